//! Listings kept without their descriptors, for the starts that follow a
//! load in the same loop turn.
//!
//! A tree's load lists every service directory ([`super::ServiceDir`]);
//! the first start of each service follows a moment later, in the same
//! loop turn (at boot, all of them before the first `poll`), and would
//! open and list the same directory again. What the load found is as
//! fresh as that second listing would be, so the load keeps it here and
//! that start answers from it ([`super::ServiceDir::from_listing`]).
//!
//! Invariants:
//! - Only the loop turn of the load: [`Kept::forget`] at every wait of
//!   the loop drops them all, so a start in a later turn (a restart,
//!   `cinit-ctl start` an hour later) lists its directory again and sees
//!   every edit made since.
//! - Each listing answers one start: [`Kept::take`] hands it out once.
//! - No descriptor is held: eight bytes per service ([`Listing`]), and
//!   only between the load and the end of its turn.

/// What a listing found, kept without its descriptor: the bits of the
/// [`super::KNOWN`] names there and whether the directory was listed at
/// all (the top bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Listing(pub(super) u64);

/// The bit of [`Listing`] that says the directory was listed.
pub(super) const LISTED: u64 = 1 << 63;

impl Listing {
    /// Nothing known: every question goes to the path.
    pub const UNLISTED: Listing = Listing(0);

    /// Whether the directory was listed.
    pub fn is_listed(self) -> bool {
        self.0 & LISTED != 0
    }
}

/// The listings of the services loaded in the current loop turn, by
/// service index: those of `first`, `first + 1`, …
#[derive(Debug, Default)]
pub struct Kept {
    first: usize,
    listings: Vec<Listing>,
}

impl Kept {
    /// The services from index `first` on were just loaded, with these
    /// listings (in index order). Loads only add services after the ones
    /// there are, so a second load in the same turn continues the range
    /// (the services between, loaded without a listing, are unlisted).
    pub fn add(&mut self, first: usize, listings: Vec<Listing>) {
        if listings.is_empty() {
            return;
        }
        let end = self.first.saturating_add(self.listings.len());
        if self.listings.is_empty() || first < end {
            self.first = first;
            self.listings = listings;
            return;
        }
        self.listings
            .resize(first.saturating_sub(self.first), Listing::UNLISTED);
        self.listings.extend(listings);
    }

    /// The listing kept for service `svc`, once; `None` if there is none
    /// (or its directory could not be listed, or it was taken).
    pub fn take(&mut self, svc: usize) -> Option<Listing> {
        let slot = svc
            .checked_sub(self.first)
            .and_then(|k| self.listings.get_mut(k))?;
        let listing = std::mem::take(slot);
        listing.is_listed().then_some(listing)
    }

    /// The loop turn is over: forget every listing and give its memory
    /// back. Nothing to do (no allocation) on a turn that loaded nothing.
    pub fn forget(&mut self) {
        if self.listings.capacity() != 0 {
            self.listings = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(bits: u64) -> Listing {
        Listing(bits | LISTED)
    }

    /// Proves each kept listing is handed out once, only for the services
    /// it was kept for, never one that was not listed, and not at all
    /// after `forget` (the end of the loop turn).
    #[test]
    fn a_listing_is_taken_once_and_forgotten_at_the_end_of_the_turn() {
        let mut kept = Kept::default();
        assert_eq!(kept.take(0), None);
        kept.add(3, vec![listed(1), Listing::UNLISTED, listed(4)]);
        assert_eq!(kept.take(2), None, "before the range");
        assert_eq!(kept.take(6), None, "after it");
        assert_eq!(kept.take(4), None, "not listed");
        assert_eq!(kept.take(3), Some(listed(1)));
        assert_eq!(kept.take(3), None, "taken once");
        kept.forget();
        assert_eq!(kept.take(5), None, "forgotten");
        assert_eq!(kept.listings.capacity(), 0, "memory given back");
    }

    /// Proves a second load in the same turn continues the range (the
    /// services between, loaded without listings, get none), and an empty
    /// load (the hot update's, which lists nothing) changes nothing.
    #[test]
    fn a_second_load_continues_the_range() {
        let mut kept = Kept::default();
        kept.add(0, vec![listed(1), listed(2)]);
        kept.add(2, Vec::new());
        kept.add(4, vec![listed(8)]);
        assert_eq!(kept.take(2), None);
        assert_eq!(kept.take(3), None);
        assert_eq!(kept.take(4), Some(listed(8)));
        assert_eq!(kept.take(1), Some(listed(2)));
        assert_eq!(kept.take(0), Some(listed(1)));
    }
}
