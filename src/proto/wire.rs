//! The byte codec of the hot-update snapshot: an output buffer (`Out`)
//! and a bounded cursor (`In`) over fixed-width integers, lengths,
//! strings and paths. Each owner of state writes and reads its own records
//! with these; the snapshot keeps only the container (header, checksum,
//! sections). Reading past the end yields `None`, and no count read from
//! the input is trusted beyond [`MAX_ITEMS`].

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
    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.put(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
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
