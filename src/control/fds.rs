//! Which descriptors go with which bytes of a control connection. Pure, so
//! the bookkeeping is unit-tested without sockets (part of
//! [`crate::control`]).
//!
//! A descriptor passed over a stream socket travels with a byte: the kernel
//! attaches it to the bytes it was sent with and hands it over with the
//! read that takes the first of them. A connection's input and output are
//! byte buffers whose fronts are consumed; [`Anchored`] keeps each
//! descriptor with the offset of its byte from the front of its buffer and
//! moves the offsets down as bytes leave.
//!
//! - Input: descriptors that came with a read are anchored at the last byte
//!   of that read; a request frame taken off the front gets those anchored
//!   inside it. A well-behaved client sends each descriptor with the bytes of
//!   one request, and a read that takes a descriptor ends within those bytes
//!   (the kernel ends a read after the message that carried descriptors), so
//!   this is the request the client meant.
//! - Output: a descriptor is anchored at the first byte of the reply frame
//!   it belongs to; [`Anchored::next_send`] says how far the next send may
//!   go so that the descriptor leaves with exactly that byte.
//!
//! Invariants: offsets never decrease from front to back; at most `cap`
//! items are held (a push beyond that is refused and hands the item back).

use std::collections::VecDeque;

/// Items (descriptors) anchored at byte offsets of a buffer.
#[derive(Debug)]
pub struct Anchored<T> {
    items: VecDeque<(usize, T)>,
    cap: usize,
}

/// What to send next from the front of an output buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum NextSend<'a, T> {
    /// Send up to this many bytes, with no descriptor.
    Plain(usize),
    /// Send up to this many bytes with this descriptor attached to the
    /// first of them.
    WithFd(usize, &'a T),
}

impl<T> Anchored<T> {
    /// An empty list that holds at most `cap` items.
    pub fn new(cap: usize) -> Self {
        Anchored {
            items: VecDeque::new(),
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Anchor `item` at the byte `offset` bytes from the front. Refused
    /// (`Err(item)`) when `cap` items are held, or when `offset` lies before
    /// the last item's (the buffers only grow at the back).
    pub fn push(&mut self, offset: usize, item: T) -> Result<(), T> {
        let behind = self.items.back().is_some_and(|(last, _)| offset < *last);
        if self.items.len() >= self.cap || behind {
            return Err(item);
        }
        self.items.push_back((offset, item));
        Ok(())
    }

    /// `n` bytes left the front of the buffer: returns the items anchored
    /// to them, front first; the others move down by `n`.
    pub fn take_front(&mut self, n: usize) -> Vec<T> {
        let mut taken = Vec::new();
        while self.items.front().is_some_and(|(at, _)| *at < n) {
            if let Some((_, item)) = self.items.pop_front() {
                taken.push(item);
            }
        }
        for (at, _) in &mut self.items {
            *at = at.saturating_sub(n); // each is at least n anyway
        }
        taken
    }

    /// Forget every item (dropping it: for a descriptor, closing it).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// How the front of an output buffer holding `len` bytes is sent next:
    /// plain bytes up to the next anchored item, or, when an item is
    /// anchored at the very front, that item with the bytes up to the
    /// following one. Once a send took at least one byte, pass its count to
    /// [`Anchored::take_front`]: a descriptor sent along is then removed.
    /// (Output anchors are at the first bytes of distinct frames, so they
    /// strictly increase and each send carries one descriptor at most.)
    pub fn next_send(&self, len: usize) -> NextSend<'_, T> {
        let mut items = self.items.iter();
        match items.next() {
            Some((0, item)) => {
                let end = items
                    .map(|(at, _)| *at)
                    .find(|&at| at > 0)
                    .unwrap_or(len)
                    .min(len);
                NextSend::WithFd(end, item)
            }
            Some((at, _)) => NextSend::Plain((*at).min(len)),
            None => NextSend::Plain(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_descriptors_leave_with_the_first_byte_of_their_frame() {
        // 10 bytes queued; a reply frame with a descriptor at 10 (20 bytes),
        // another at 30 (8 bytes).
        let mut a = Anchored::new(4);
        a.push(10, 'x').unwrap();
        a.push(30, 'y').unwrap();
        let mut len = 38;
        // First the bytes before 'x', in two partial sends.
        assert_eq!(a.next_send(len), NextSend::Plain(10));
        assert!(a.take_front(4).is_empty());
        len -= 4;
        assert_eq!(a.next_send(len), NextSend::Plain(6));
        assert!(a.take_front(6).is_empty());
        len -= 6;
        // Then 'x' with its frame, not beyond it; a partial send still
        // took 'x' along.
        assert_eq!(a.next_send(len), NextSend::WithFd(20, &'x'));
        assert_eq!(a.take_front(5), vec!['x']);
        len -= 5;
        assert_eq!(a.next_send(len), NextSend::Plain(15));
        assert!(a.take_front(15).is_empty());
        len -= 15;
        assert_eq!(a.next_send(len), NextSend::WithFd(8, &'y'));
        assert_eq!(a.take_front(8), vec!['y']);
        assert!(a.is_empty());
        assert_eq!(a.next_send(0), NextSend::Plain(0));
    }

    #[test]
    fn input_descriptors_go_to_the_frame_holding_their_byte() {
        let mut a = Anchored::new(4);
        // A read of 12 bytes brought two descriptors (anchored at byte 11),
        // a later read one more at byte 30.
        a.push(11, 1).unwrap();
        a.push(11, 2).unwrap();
        a.push(30, 3).unwrap();
        // An 8-byte frame ends before them: it gets none.
        assert!(a.take_front(8).is_empty());
        // The next frame (bytes 8..20 of the old front) holds byte 11.
        assert_eq!(a.take_front(12), vec![1, 2]);
        assert_eq!(a.len(), 1);
        assert_eq!(a.take_front(11), vec![3], "byte 30 was the 11th left");
    }

    #[test]
    fn pushes_beyond_the_cap_or_behind_the_last_are_refused() {
        let mut a = Anchored::new(2);
        a.push(5, "a").unwrap();
        assert_eq!(a.push(4, "behind"), Err("behind"));
        a.push(5, "b").unwrap();
        assert_eq!(a.push(9, "c"), Err("c"));
        a.clear();
        assert!(a.is_empty());
        a.push(0, "d").unwrap();
    }

    proptest::proptest! {
        /// Frames of random sizes, some with a descriptor, queued while
        /// sends of random sizes drain the front: every descriptor leaves
        /// with the first byte of its own frame, in order, and none is
        /// lost or sent twice.
        #[test]
        fn every_descriptor_leaves_with_its_frames_first_byte(
            frames in proptest::collection::vec((1usize..40, proptest::bool::ANY), 1..20),
            chunks in proptest::collection::vec(1usize..50, 1..200),
        ) {
            let mut a = Anchored::new(frames.len());
            let mut len = 0; // bytes queued, not sent
            let mut sent = 0; // bytes sent so far
            let mut want = Vec::new(); // (absolute first byte, id)
            let mut got = Vec::new();
            let mut chunks = chunks.into_iter().cycle();
            // One send step; false when nothing is queued.
            let mut step = |a: &mut Anchored<usize>, len: &mut usize, sent: &mut usize,
                            got: &mut Vec<(usize, usize)>| {
                if *len == 0 {
                    return Ok(false);
                }
                let take = chunks.next().unwrap_or(1);
                let (n, fd) = match a.next_send(*len) {
                    NextSend::Plain(end) => (take.min(end), None),
                    NextSend::WithFd(end, id) => (take.min(end), Some(*id)),
                };
                proptest::prop_assert!(n > 0);
                if let Some(id) = fd {
                    got.push((*sent, id));
                }
                let taken = a.take_front(n);
                proptest::prop_assert_eq!(taken.len(), usize::from(fd.is_some()));
                *sent += n;
                *len -= n;
                Ok(true)
            };
            // Frames are queued while earlier ones are being sent.
            for (id, (size, with_fd)) in frames.iter().enumerate() {
                if *with_fd {
                    a.push(len, id).unwrap();
                    want.push((sent + len, id));
                }
                len += size;
                step(&mut a, &mut len, &mut sent, &mut got)?;
            }
            while step(&mut a, &mut len, &mut sent, &mut got)? {}
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert!(a.is_empty());
        }
    }
}
