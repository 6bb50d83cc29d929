//! Users and groups from the text of `/etc/passwd` and `/etc/group`.
//!
//! cinit is a static binary: no NSS, so it reads the two files itself
//! (`crate::config::context` reads them, bounded; this module only parses).
//! Pure functions on bytes, no allocation but the result.
//!
//! Invariants: the first entry of a name wins (as `getpwnam` finds it);
//! a line that is not a well-formed entry (too few fields, a number that
//! does not parse, a `+`/`-` NIS line, a comment) is skipped, never
//! misread; at most [`MAX_GROUPS`] groups are returned.

/// The most groups a service may have (the kernel allows 65 536; no
/// service needs more than a few).
pub const MAX_GROUPS: usize = 256;

/// A user's ids from `/etc/passwd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// The first four fields (separated by `:`) of each well-formed line of
/// `data` with at least `min` fields, whose name is not empty and not a
/// NIS or comment line; missing fields are empty.
fn entries(data: &[u8], min: usize) -> impl Iterator<Item = [&[u8]; 4]> {
    data.split(|&b| b == b'\n').filter_map(move |line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut fields: [&[u8]; 4] = [&[]; 4];
        let mut n = 0;
        for (slot, field) in fields.iter_mut().zip(line.split(|&b| b == b':')) {
            *slot = field;
            n += 1;
        }
        let name = fields.first()?;
        let bad = name.is_empty() || matches!(name.first(), Some(b'+' | b'-' | b'#'));
        (!bad && n >= min).then_some(fields)
    })
}

/// A decimal id (not `-1`, which the set*id calls take as "unchanged").
pub fn parse_id(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text)
        .ok()?
        .parse::<u32>()
        .ok()
        .filter(|&id| id != u32::MAX)
}

/// The entry of `name` in `/etc/passwd`'s text.
pub fn find_user(passwd: &[u8], name: &[u8]) -> Option<Account> {
    entries(passwd, 4)
        .find(|f| f.first() == Some(&name))
        .and_then(|f| {
            Some(Account {
                uid: parse_id(f.get(2)?)?,
                gid: parse_id(f.get(3)?)?,
            })
        })
}

/// The name and gid of the entry of `uid` in `/etc/passwd`'s text.
pub fn find_uid(passwd: &[u8], uid: u32) -> Option<(&[u8], u32)> {
    entries(passwd, 4)
        .find_map(|f| (parse_id(f.get(2)?)? == uid).then_some((*f.first()?, parse_id(f.get(3)?)?)))
}

/// The gid of group `name` in `/etc/group`'s text.
pub fn find_group(group: &[u8], name: &[u8]) -> Option<u32> {
    entries(group, 3)
        .find(|f| f.first() == Some(&name))
        .and_then(|f| parse_id(f.get(2)?))
}

/// `user`'s groups as `initgroups(3)` makes them: `primary` first, then
/// every group of `/etc/group` that lists `user` as a member, each once.
/// `None` when there are more than [`MAX_GROUPS`].
pub fn groups_of(group: &[u8], user: &[u8], primary: u32) -> Option<Vec<u32>> {
    let mut out = vec![primary];
    for f in entries(group, 4) {
        let (Some(gid), Some(members)) = (f.get(2).and_then(|g| parse_id(g)), f.get(3)) else {
            continue;
        };
        if members.split(|&b| b == b',').any(|m| m == user) && !out.contains(&gid) {
            if out.len() >= MAX_GROUPS {
                return None;
            }
            out.push(gid);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
        +nis::5:5::/:\n\
        # comment:x:9:9\n\
        www:x:33:33:web:/var/www:/sbin/nologin\n\
        broken:x:abc:1:::\n\
        www:x:99:99:second:/:/bin/sh\n\
        app:x:1000:1000::/home/app:/bin/sh";
    const GROUP: &[u8] = b"root:x:0:\n\
        www:x:33:\n\
        audio:x:29:app,www\n\
        video:x:44:app\n\
        wheel:x:10:root\n\
        app:x:1000:app\n";

    /// The first entry of a name wins; malformed, NIS and comment lines are
    /// skipped; a last line without a newline counts.
    #[test]
    fn users_are_found_as_getpwnam_finds_them() {
        assert_eq!(
            find_user(PASSWD, b"www"),
            Some(Account { uid: 33, gid: 33 })
        );
        assert_eq!(
            find_user(PASSWD, b"app"),
            Some(Account {
                uid: 1000,
                gid: 1000
            })
        );
        assert_eq!(find_user(PASSWD, b"broken"), None);
        assert_eq!(find_user(PASSWD, b"+nis"), None);
        assert_eq!(find_user(PASSWD, b"# comment"), None);
        assert_eq!(find_user(PASSWD, b"nobody"), None);
        assert_eq!(find_user(PASSWD, b""), None);
        assert_eq!(find_uid(PASSWD, 1000), Some((&b"app"[..], 1000)));
        assert_eq!(find_uid(PASSWD, 7), None);
    }

    /// Groups by name, and a user's supplementary groups with the primary
    /// first and none twice.
    #[test]
    fn groups_are_found_as_initgroups_makes_them() {
        assert_eq!(find_group(GROUP, b"audio"), Some(29));
        assert_eq!(find_group(GROUP, b"nope"), None);
        assert_eq!(groups_of(GROUP, b"app", 1000), Some(vec![1000, 29, 44]));
        assert_eq!(groups_of(GROUP, b"www", 33), Some(vec![33, 29]));
        assert_eq!(groups_of(GROUP, b"nobody", 65534), Some(vec![65534]));
    }

    /// Ids are plain decimal numbers below `u32::MAX`.
    #[test]
    fn ids_are_plain_numbers() {
        assert_eq!(parse_id(b"0"), Some(0));
        assert_eq!(parse_id(b"4294967294"), Some(u32::MAX - 1));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"4294967295",
            b"99999999999",
            b"1a",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }

    /// A user in more than MAX_GROUPS groups is refused, not cut short.
    #[test]
    fn too_many_groups_are_refused() {
        let mut text = Vec::new();
        for g in 0..=MAX_GROUPS {
            text.extend_from_slice(format!("g{g}:x:{}:u\n", g + 1).as_bytes());
        }
        assert_eq!(groups_of(&text, b"u", 0), None);
    }

    proptest::proptest! {
        /// Any bytes parse without panicking, and a found user is one whose
        /// line is in the text.
        #[test]
        fn any_text_parses(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
                           name in "[a-z]{1,4}") {
            if let Some(a) = find_user(&data, name.as_bytes()) {
                let line = format!("{name}:");
                proptest::prop_assert!(data.windows(line.len()).any(|w| w == line.as_bytes()));
                proptest::prop_assert!(a.uid != u32::MAX);
            }
            let _ = find_group(&data, name.as_bytes());
            let g = groups_of(&data, name.as_bytes(), 5);
            proptest::prop_assert!(g.is_none_or(|g| g.first() == Some(&5)));
        }
    }
}
