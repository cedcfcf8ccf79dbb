//! uid → user name (NSS via getpwuid_r), and a small cache of the answers so
//! a flood of id changes does not read /etc/passwd per event.
use std::{collections::HashMap, ffi::CStr, sync::Arc};

use crate::text::escape_bytes;

/// Resolves uids to names; replaceable in tests.
pub type NameLookup = fn(u32) -> Option<String>;

/// How long an answer is kept (event time): renamed or new users show up
/// after at most this long.
const KEEP_NS: u64 = 10_000_000_000;
/// At most this many uids are remembered (a hostile process can name any).
const MAX_CACHED: usize = 4096;

pub struct UserNames {
    lookup: NameLookup,
    cache: HashMap<u32, (Option<Arc<str>>, u64)>,
}

impl UserNames {
    pub fn new(lookup: NameLookup) -> Self {
        Self {
            lookup,
            cache: HashMap::new(),
        }
    }

    /// The name of `uid` at `now_ns`, looked up at most once per KEEP_NS.
    pub fn name(&mut self, uid: u32, now_ns: u64) -> Option<Arc<str>> {
        if let Some((name, at)) = self.cache.get(&uid) {
            if now_ns.wrapping_sub(*at) < KEEP_NS {
                return name.clone();
            }
        }
        if self.cache.len() >= MAX_CACHED {
            self.cache.clear();
        }
        let name: Option<Arc<str>> = (self.lookup)(uid).map(Arc::from);
        self.cache.insert(uid, (name.clone(), now_ns));
        name
    }
}

pub fn name_of(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: zeroed passwd is a valid out-parameter.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; buf outlives its use.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r set pw_name to a NUL-terminated string inside buf.
    let name = unsafe { CStr::from_ptr(pw.pw_name) };
    Some(escape_bytes(name.to_bytes()))
}

pub fn uid_of(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: as above.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(pw.pw_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(uid: u32) -> Option<String> {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (uid == 7).then(|| "seven".into())
    }
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    #[test]
    fn names_are_looked_up_once_per_period() {
        let mut n = UserNames::new(counted);
        let base = CALLS.load(std::sync::atomic::Ordering::Relaxed);
        for t in 0..100 {
            assert_eq!(n.name(7, t).as_deref(), Some("seven"));
            assert_eq!(n.name(8, t), None);
        }
        assert_eq!(CALLS.load(std::sync::atomic::Ordering::Relaxed) - base, 2);
        n.name(7, KEEP_NS + 1);
        assert_eq!(CALLS.load(std::sync::atomic::Ordering::Relaxed) - base, 3);
    }
}
