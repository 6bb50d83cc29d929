//! The one byte codec of cinit: an output buffer (`Out`) and a bounded
//! cursor (`In`) over big-endian fixed-width integers, lengths, strings,
//! byte strings, options and lists. The hot-update snapshot and the control
//! protocol both write and read through it; each owner of state saves and
//! loads its own records with these, and the snapshot keeps only the
//! container (header, checksum, sections).
//!
//! The two formats were fixed before they shared this code and must not
//! change, so where they differ the codec spells both, by name:
//!
//! | primitive | snapshot | protocol (fields) |
//! |-----------|----------|-------------------|
//! | length prefix | u32 ([`Out::len`], [`Out::bytes`]) | u16 after a tag byte ([`Out::field`], [`In::field`]) |
//! | option | present byte + value, always ([`Out::opt_u64`]) | the field is absent ([`Out::field_u64_opt`]) |
//! | list | a count, then the items ([`Out::indices`]) | the field repeated, or packed u32s ([`Out::field_indices`]) |
//!
//! Integers and strings themselves are written by the same methods in
//! both. Invariants: reading past the end yields `None` (nothing panics),
//! no length read from the input is used before it is checked against the
//! bytes that remain, and no count is trusted beyond [`MAX_ITEMS`].

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// Most items of one kind a snapshot may hold (services, clients, ops).
pub const MAX_ITEMS: usize = 1 << 16;

#[derive(Default)]
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    /// Every write ends here. Not inlined: the writers below are used in
    /// dozens of places, and one copy of the buffer growth is enough.
    #[inline(never)]
    pub(crate) fn put(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// A fixed-width integer's bytes. One copy per width, not inlined
    /// either; the width is known, so the bytes are stored directly
    /// instead of through a call to `memcpy`, which costs more than
    /// copying 1 to 8 bytes (a snapshot of 1000 logged services is about
    /// 100 000 such writes): one unaligned store of `N` bytes after one
    /// capacity check. The safe spellings cost more with `opt-level = "s"`:
    /// a `push` per byte checks the capacity and writes the length back
    /// each time (a fifth of all the instructions that save, encode,
    /// decode and load 1000 logged services), `extend_from_slice` calls
    /// `memcpy` and `resize` calls `memset`.
    #[inline(never)]
    fn put_n<const N: usize>(&mut self, b: [u8; N]) {
        self.0.reserve(N);
        let at = self.0.len();
        // SAFETY: `reserve` made room for `N` more bytes after the first
        // `at`, which are initialised; the store fills exactly those `N`
        // bytes (unaligned, as a byte buffer may be), and only then does
        // the length cover them.
        unsafe {
            self.0
                .as_mut_ptr()
                .add(at)
                .cast::<[u8; N]>()
                .write_unaligned(b);
            self.0.set_len(at + N);
        }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.put_n([v]);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.put_n(v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.put_n(v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.put_n(v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.put_n(v.to_be_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.put(b);
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub(crate) fn path(&mut self, p: &std::path::Path) {
        self.bytes(p.as_os_str().as_bytes());
    }
    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        self.u64(v.unwrap_or(0));
    }
    pub(crate) fn indices(&mut self, v: &[usize]) {
        self.len(v.len());
        for &i in v {
            self.len(i);
        }
    }
    pub(crate) fn section(&mut self, tag: u8, payload: Out) {
        self.u8(tag);
        self.bytes(&payload.0);
    }

    // The protocol's spelling: a field is a tag (u8), a length (u16) and
    // the value, written in place; a u32 length slot frames a message.

    /// Reserve a u32 length slot; [`Out::close_u32`] fills it in with the
    /// bytes written after it. Returns where the counted bytes start.
    pub(crate) fn open_u32(&mut self) -> usize {
        self.u32(0);
        self.0.len()
    }
    /// Fill in the slot [`Out::open_u32`] reserved at `start`.
    pub(crate) fn close_u32(&mut self, start: usize) {
        let n = self.0.len().saturating_sub(start);
        let n = u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        if let Some(slot) = self.0.get_mut(start.saturating_sub(4)..start) {
            slot.copy_from_slice(&n);
        }
    }
    /// Begin a field with tag `t`; what is written until [`Out::end`] is
    /// its value (nested fields included).
    pub(crate) fn field(&mut self, t: u8) -> usize {
        self.u8(t);
        self.u16(0);
        self.0.len()
    }
    /// End the field begun at `start`. A value longer than a field can
    /// hold is cut (only cinit's own strings are encoded, and names are
    /// far shorter).
    #[inline(never)]
    pub(crate) fn end(&mut self, start: usize) {
        let max = start.saturating_add(usize::from(u16::MAX));
        self.0.truncate(max);
        let n = u16::try_from(self.0.len().saturating_sub(start)).unwrap_or(u16::MAX);
        if let Some(slot) = self.0.get_mut(start.saturating_sub(2)..start) {
            slot.copy_from_slice(&n.to_be_bytes());
        }
    }
    /// A field holding the raw bytes `v` (a string's UTF-8, for text).
    pub(crate) fn field_bytes(&mut self, t: u8, v: &[u8]) {
        let at = self.field(t);
        self.put(v);
        self.end(at);
    }
    pub(crate) fn field_u8(&mut self, t: u8, v: u8) {
        let at = self.field(t);
        self.u8(v);
        self.end(at);
    }
    pub(crate) fn field_u32(&mut self, t: u8, v: u32) {
        let at = self.field(t);
        self.u32(v);
        self.end(at);
    }
    pub(crate) fn field_u64(&mut self, t: u8, v: u64) {
        let at = self.field(t);
        self.u64(v);
        self.end(at);
    }
    /// The protocol's option: the field, or nothing.
    pub(crate) fn field_u64_opt(&mut self, t: u8, v: Option<u64>) {
        if let Some(v) = v {
            self.field_u64(t, v);
        }
    }
    /// The protocol's packed list: indices as u32s, split over as many
    /// fields of tag `t` as needed (each at most `per_field` of them, so
    /// none outgrows its u16 length); a reader concatenates them.
    pub(crate) fn field_indices(&mut self, t: u8, v: &[usize], per_field: usize) {
        for chunk in v.chunks(per_field.max(1)) {
            let at = self.field(t);
            for &i in chunk {
                self.len(i);
            }
            self.end(at);
        }
    }
}

/// A cursor over one payload. Reading past the end yields `None`.
pub(crate) struct In<'a>(pub(crate) &'a [u8]);

impl<'a> In<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }
    pub(crate) fn bool(&mut self) -> Option<bool> {
        self.u8().map(|b| b != 0)
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
    pub(crate) fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
    pub(crate) fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u32()?).ok()
    }
    pub(crate) fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.len()?;
        self.take(n).map(<[u8]>::to_vec)
    }
    pub(crate) fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    /// Everything left, as text: the protocol's string (its length is the
    /// field's).
    pub(crate) fn rest_str(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.0);
        std::str::from_utf8(rest).ok().map(str::to_string)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Read one value with `read` that must fill the cursor exactly (a
    /// protocol field's value is one integer, nothing more or less).
    pub(crate) fn whole<T>(mut self, read: fn(&mut Self) -> Option<T>) -> Option<T> {
        read(&mut self).filter(|_| self.is_empty())
    }
    /// The next protocol field: its tag and a cursor over its value.
    /// `None` at the end; an error saying what is wrong (and the cursor
    /// emptied) when the field header is cut short or the value runs past
    /// the input.
    pub(crate) fn field(&mut self) -> Option<Result<(u8, In<'a>), &'static str>> {
        if self.is_empty() {
            return None;
        }
        let field = match (self.u8(), self.u16()) {
            (Some(t), Some(n)) => match self.take(usize::from(n)) {
                Some(v) => Ok((t, In(v))),
                None => Err("field longer than the frame"),
            },
            _ => Err("truncated field header"),
        };
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
    pub(crate) fn path(&mut self) -> Option<PathBuf> {
        self.bytes().map(|b| PathBuf::from(OsString::from_vec(b)))
    }
    pub(crate) fn opt_u64(&mut self) -> Option<Option<u64>> {
        let present = self.bool()?;
        let v = self.u64()?;
        Some(present.then_some(v))
    }
    pub(crate) fn count(&mut self) -> Option<usize> {
        self.len().filter(|&n| n <= MAX_ITEMS)
    }
    pub(crate) fn indices(&mut self) -> Option<Vec<usize>> {
        let n = self.count()?;
        (0..n).map(|_| self.len()).collect()
    }
}

/// What could not be read back from a snapshot, one line each, for the
/// console.
pub type Lost = Vec<String>;

/// The line a damaged section leaves in the losses.
pub fn damaged(tag: u8) -> String {
    format!("snapshot section {tag} is damaged; skipped")
}

/// A snapshot's body as its sections (`tag u8 | length u32 | payload`),
/// in the order they were written. Each owner of state writes its own
/// sections into it ([`Sections::put`]) and reads its own back by tag
/// ([`Sections::read_all`], [`Sections::read_last`]); the snapshot
/// container only frames them. A tag nobody reads (a newer writer's) is
/// skipped by never being asked for.
///
/// The payloads lie one after another in one buffer, and the sections are
/// an index into it: writing 3000 sections (1000 services) grows one buffer
/// instead of allocating and growing a buffer per section, and reading a
/// snapshot copies its body once instead of once per section.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// Every payload, one after another.
    data: Vec<u8>,
    /// Each section, in order: its tag and where its payload lies in `data`.
    index: Vec<(u8, usize, usize)>,
}

/// Equal when the same tags hold the same payloads in the same order,
/// wherever in the buffer they lie.
impl PartialEq for Sections {
    fn eq(&self, other: &Sections) -> bool {
        self.index.len() == other.index.len() && self.iter().eq(other.iter())
    }
}
impl Eq for Sections {}

impl Sections {
    /// Cut a body into its sections. A body that ends inside a section, or
    /// holds more than [`MAX_ITEMS`] sections of one tag, keeps what came
    /// before and says why in `lost`.
    pub fn cut(body: &[u8], lost: &mut Lost) -> Sections {
        Sections::cut_at(body.to_vec(), 0, lost)
    }
    /// [`Sections::cut`] of the body that starts at `start` of `data` and
    /// runs to its end, keeping `data` as the sections' buffer: a snapshot
    /// read back is not copied again.
    pub fn cut_at(data: Vec<u8>, start: usize, lost: &mut Lost) -> Sections {
        let mut s = Sections {
            data,
            index: Vec::new(),
        };
        let body = s.data.get(start..).unwrap_or_default();
        let mut b = In(body);
        let mut counts = [0usize; 256];
        while !b.is_empty() {
            let (Some(t), Some(payload)) = (b.u8(), b.len().and_then(|n| b.take(n))) else {
                lost.push("snapshot ends inside a section".to_string());
                break;
            };
            // Where the payload lies in the buffer (the cursor only moves on).
            let end = start + body.len() - b.0.len();
            s.index.push((t, end - payload.len(), end));
            let n = counts.get_mut(usize::from(t)).map_or(0, |n| {
                *n += 1;
                *n
            });
            if n > MAX_ITEMS {
                lost.push("snapshot holds too many items; the rest is skipped".to_string());
                break;
            }
        }
        s
    }
    /// Append a section tagged `tag` whose payload `write` writes.
    pub(crate) fn put(&mut self, tag: u8, write: impl FnOnce(&mut Out)) {
        let mut o = Out(std::mem::take(&mut self.data));
        let start = o.0.len();
        write(&mut o);
        self.data = o.0;
        self.index.push((tag, start, self.data.len()));
    }
    /// Every section's tag and payload, in order.
    fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.index
            .iter()
            .map(|&(t, a, b)| (t, self.data.get(a..b).unwrap_or_default()))
    }
    /// How many bytes [`Sections::write`] writes (to size its buffer once).
    pub(crate) fn encoded_len(&self) -> usize {
        self.index
            .iter()
            .map(|&(_, a, b)| 5 + b.saturating_sub(a))
            .sum()
    }
    /// Write every section to `body`, in order.
    pub(crate) fn write(&self, body: &mut Out) {
        for (t, p) in self.iter() {
            body.u8(t);
            body.bytes(p);
        }
    }
    /// Keep only the sections whose tag `rank` ranks, ordered by rank;
    /// sections of one rank keep the order they were written in (only the
    /// index moves). A counting sort: one pass to count each rank, one to
    /// put each section in its place. A pass per rank (a dozen over 4000
    /// sections at 1000 logged services) was a quarter of reading a
    /// snapshot, and a general sort would cost more code.
    pub fn arrange(&mut self, rank: impl Fn(u8) -> Option<usize>) {
        let ranked: Vec<_> = std::mem::take(&mut self.index)
            .into_iter()
            .filter_map(|e| Some((rank(e.0)?, e)))
            .collect();
        let ranks = ranked.iter().map(|&(r, _)| r + 1).max().unwrap_or(0);
        // Where each rank's sections begin: the counts, summed.
        let mut next = vec![0usize; ranks];
        for &(r, _) in &ranked {
            if let Some(n) = next.get_mut(r) {
                *n += 1;
            }
        }
        let mut at = 0;
        for n in &mut next {
            (*n, at) = (at, at + *n);
        }
        self.index = vec![(0, 0, 0); ranked.len()];
        for (r, e) in ranked {
            let slot = next.get_mut(r).and_then(|n| {
                *n += 1;
                self.index.get_mut(*n - 1)
            });
            if let Some(slot) = slot {
                *slot = e;
            }
        }
    }
    /// The payloads tagged `tag`, in order.
    pub(crate) fn all(&self, tag: u8) -> impl Iterator<Item = In<'_>> {
        self.iter()
            .filter(move |(t, _)| *t == tag)
            .map(|(_, p)| In(p))
    }
    /// How many sections are tagged `tag`.
    pub fn count(&self, tag: u8) -> usize {
        self.all(tag).count()
    }
    /// Read every section tagged `tag` with `read`, in order. A damaged one
    /// (`read` says `None`) keeps its place as `None`, so later indices stay
    /// right, and adds a line to `lost`.
    pub(crate) fn read_all<T>(
        &self,
        tag: u8,
        lost: &mut Lost,
        mut read: impl FnMut(&mut In) -> Option<T>,
    ) -> Vec<Option<T>> {
        self.read_each(&[tag], lost, |_, p| read(p))
    }
    /// [`Sections::read_all`] over several tags at once, in the order the
    /// sections were written; `read` is told each one's tag.
    pub(crate) fn read_each<T>(
        &self,
        tags: &[u8],
        lost: &mut Lost,
        mut read: impl FnMut(u8, &mut In) -> Option<T>,
    ) -> Vec<Option<T>> {
        let mut out = Vec::new();
        self.each(tags, lost, &mut |t, p| {
            out.push(read(t, p));
            out.last().is_some_and(Option::is_some)
        });
        out
    }
    /// Call `read` on every section tagged one of `tags`, in order; one
    /// that says it was damaged (`false`) adds a line to `lost`. Not
    /// generic, so the loop exists once.
    fn each(&self, tags: &[u8], lost: &mut Lost, read: &mut dyn FnMut(u8, &mut In) -> bool) {
        for (t, p) in self.iter() {
            if tags.contains(&t) && !read(t, &mut In(p)) {
                lost.push(damaged(t));
            }
        }
    }
    /// Read a section written once: the last one tagged `tag` that reads
    /// (a later one replaces an earlier); damaged ones are reported.
    pub(crate) fn read_last<T>(
        &self,
        tag: u8,
        lost: &mut Lost,
        read: impl FnMut(&mut In) -> Option<T>,
    ) -> Option<T> {
        self.read_all(tag, lost, read).into_iter().flatten().last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the two spellings stay apart byte for byte: the snapshot's
    /// string has a u32 length and its option is always 9 bytes, the
    /// protocol's field has a tag and a u16 length and its option is
    /// absent; and that a nested field's length counts its inner fields.
    #[test]
    fn snapshot_and_protocol_spellings_are_each_their_own() {
        let mut o = Out::default();
        o.str("ab");
        o.opt_u64(None);
        assert_eq!(o.0, [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut f = Out::default();
        f.field_bytes(1, b"ab");
        f.field_u64_opt(2, None);
        let at = f.field(3);
        f.field_u8(4, 7);
        f.end(at);
        assert_eq!(f.0, [1, 0, 2, b'a', b'b', 3, 0, 4, 4, 0, 1, 7]);
        let mut i = In(&f.0);
        let (t, v) = i.field().unwrap().unwrap();
        assert_eq!((t, v.0), (1, &b"ab"[..]));
        let (t, mut nested) = i.field().unwrap().unwrap();
        assert_eq!(t, 3);
        let (t, v) = nested.field().unwrap().unwrap();
        assert_eq!((t, v.whole(In::u8)), (4, Some(7)));
        assert!(i.field().is_none() && nested.field().is_none());
    }

    /// Proves a field's value is cut at what a u16 length can say (the
    /// length then says exactly that), and that a field whose length runs
    /// past the input, or whose header is cut, is an error that empties
    /// the cursor instead of reading on.
    #[test]
    fn fields_are_bounded_both_ways() {
        let mut f = Out::default();
        f.field_bytes(9, &vec![b'x'; 70_000]);
        assert_eq!(f.0.len(), 3 + usize::from(u16::MAX));
        assert_eq!(f.0.get(1..3), Some(&[0xff, 0xff][..]));
        let mut lying = In(&[1, 0, 9, 0]);
        assert_eq!(
            lying.field().map(|r| r.map(|(t, _)| t)),
            Some(Err("field longer than the frame"))
        );
        assert!(lying.is_empty());
        let mut cut = In(&[1, 0]);
        assert_eq!(
            cut.field().map(|r| r.map(|(t, _)| t)),
            Some(Err("truncated field header"))
        );
        assert!(cut.field().is_none());
        assert_eq!(In(&[0, 0, 0, 1, 2]).whole(In::u32), None);
    }
}
