//! Tests of the pure parts (gaps, the status line) and of the questions
//! asked of the kernel (which only ask, never close: other tests run
//! beside them).

use std::os::fd::AsRawFd;

use super::*;

/// Proves the gaps are exactly the descriptors from 3 to `end` that are not
/// kept: none below 3, none for a kept one, adjacent kept ones leave no
/// empty gap, and the last gap runs to `end`.
#[test]
fn gaps_are_what_is_not_kept() {
    assert_eq!(gaps(&[], 10), vec![(3, 10)]);
    assert_eq!(gaps(&[3, 4, 7], 10), vec![(5, 6), (8, 10)]);
    assert_eq!(gaps(&[5, 10], 10), vec![(3, 4), (6, 9)]);
    assert_eq!(gaps(&[3, 4, 5], 5), Vec::<(usize, usize)>::new());
    assert_eq!(gaps(&[4, 20], 10), vec![(3, 3), (5, 10)]);
}

/// Proves the table size is read from the `FDSize:` line of a status file,
/// and that a status without one (or with garbage) gives none.
#[test]
fn the_descriptor_table_size_is_read_from_status() {
    let status = b"Name:\tcinit\nPid:\t1\nFDSize:\t2048\nGroups:\t0\n";
    assert_eq!(parse_fd_size(status), Some(2048));
    assert_eq!(parse_fd_size(b"Name:\tcinit\n"), None);
    assert_eq!(parse_fd_size(b"FDSize:\tmany\n"), None);
    let here = fd_table_size().unwrap();
    assert!(here >= 64, "FDSize {here}");
}

/// Proves the count asks each descriptor and counts only the open ones,
/// across more than one `poll` chunk: both ends of a pipe are counted,
/// numbers that are surely not open (past the descriptor table) are not.
#[test]
fn only_open_descriptors_are_counted() {
    let (r, w) = nix::unistd::pipe().unwrap();
    let (r, w) = (r.as_raw_fd() as usize, w.as_raw_fd() as usize);
    let past = fd_table_size().unwrap() + 10;
    let closed = (past..past + POLL_CHUNK + 5).collect::<Vec<_>>();
    let asked = closed
        .iter()
        .copied()
        .chain([r, w])
        .chain(past + 9_000..past + 9_003);
    assert_eq!(count_open(asked), 2);
    assert_eq!(count_open(closed.into_iter()), 0);
    assert_eq!(count_open(std::iter::empty()), 0);
}

/// Proves a scan holds what was open when it was taken: a pipe's two
/// ends opened before it are in it, numbers past the descriptor table are
/// not.
#[test]
fn a_scan_holds_what_was_open_when_it_was_taken() {
    let (r, w) = nix::unistd::pipe().unwrap();
    let open = OpenFds::scan();
    let past = fd_table_size().unwrap() as RawFd + 10;
    assert!(open.contains(r.as_raw_fd()) && open.contains(w.as_raw_fd()));
    assert!(!open.contains(past) && !open.contains(past + 5000));
}
