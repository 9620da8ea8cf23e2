//! Install-media identification, as libosinfo's `osinfo_db_identify_media` and
//! `osinfo_media_matches` decide it (libosinfo 1.10+):
//!
//! - the medium's ids are the primary volume descriptor's fields with trailing whitespace
//!   removed; an OS media entry's `<volume-id>`, `<system-id>`, `<publisher-id>` and
//!   `<application-id>` are regular expressions searched (not anchored, case-sensitive:
//!   GRegex without flags, PCRE syntax with look-ahead; an entry may say `(?i)` itself);
//!   an absent one matches
//!   anything, but an entry with none of them and no volume size matches nothing;
//! - `<volume-size>`, when given, must equal the medium's size; the entry's architecture
//!   must be the medium's or `all` (a medium read from an ISO has none, so any);
//! - OSes are tried in database order, each OS's media sorted so that an entry whose
//!   volume-id regex contains another's comes first (the more specific first);
//! - a first pass skips media for arch `all` and OSes whose release status is `rolling`;
//!   only when nothing matched are those tried, so a rolling or generic entry never wins
//!   over a specific one.

use std::collections::HashMap;

use fancy_regex::{Regex, RegexBuilder};

use super::{DbError, Media, Os};

/// Compiled media regexes, by pattern: the database repeats many.
type Cache = HashMap<String, Regex>;

/// What a medium says about itself: the primary volume descriptor's ids.
#[derive(Debug, Clone, Default)]
pub struct MediaIds {
    /// Volume id.
    pub volume_id: String,
    /// System id.
    pub system_id: String,
    /// Publisher id.
    pub publisher_id: String,
    /// Application id.
    pub application_id: String,
    /// Volume size in bytes.
    pub volume_size: u64,
    /// Architecture, when known (ISOs do not say).
    pub arch: Option<String>,
}

/// A matched OS media entry.
#[derive(Debug, Clone)]
pub struct Match {
    /// The OS.
    pub os: Os,
    /// Its media entry that matched.
    pub media: Media,
    /// Which fields of the entry matched, with the entry's regex: (field, regex).
    pub matched: Vec<(&'static str, String)>,
    /// True when only the fallback pass (arch `all`, rolling releases) matched.
    pub fallback: bool,
}

/// Searches `pattern` in `text`, as g_regex_match_simple does; None for an absent pattern.
fn search(cache: &mut Cache, pattern: Option<&str>, text: &str) -> Result<Option<bool>, DbError> {
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    // Compiling is the expensive part (~1,900 distinct patterns, ~0.3 s): most are
    // rejected by a literal every match must contain.
    if required_literal(pattern).is_some_and(|lit| !text.contains(lit.as_str())) {
        return Ok(Some(false));
    }
    if !cache.contains_key(pattern) {
        // PCRE syntax (osinfo-db uses look-ahead); the backtracking parts are bounded.
        let re = RegexBuilder::new(pattern)
            .backtrack_limit(100_000)
            .build()
            .map_err(|e| DbError::Bad(format!("osinfo media regex {pattern:?}: {e}")))?;
        cache.insert(pattern.to_string(), re);
    }
    cache[pattern]
        .is_match(text)
        .map(Some)
        .map_err(|e| DbError::Bad(format!("osinfo media regex {pattern:?}: {e}")))
}

/// A run of plain characters that every match of `pattern` contains, or None when that is
/// not certain. Runs are taken outside groups and classes only; a top-level `|` or an
/// inline `(?` flag or assertion gives None; a character quantified by `?`, `*` or `{..}`
/// is optional and ends its run; escapes, `.`, anchors and `+` end a run too.
fn required_literal(pattern: &str) -> Option<String> {
    if pattern.contains("(?") {
        return None;
    }
    let mut best = String::new();
    let mut run = String::new();
    let mut depth = 0usize;
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    let keep = |run: &String, best: &mut String| {
        if run.len() > best.len() {
            *best = run.clone();
        }
    };
    while let Some(c) = chars.next() {
        if in_class {
            match c {
                '\\' => {
                    chars.next();
                }
                ']' => in_class = false,
                _ => {}
            }
            continue;
        }
        match c {
            '\\' => {
                chars.next();
                run.clear();
            }
            '[' => {
                in_class = true;
                run.clear();
            }
            '(' => {
                depth += 1;
                run.clear();
            }
            ')' => {
                depth = depth.saturating_sub(1);
                run.clear();
            }
            '|' if depth == 0 => return None,
            '?' | '*' | '{' => {
                run.pop();
                keep(&run, &mut best);
                run.clear();
                if c == '{' {
                    for d in chars.by_ref() {
                        if d == '}' {
                            break;
                        }
                    }
                }
            }
            '.' | '^' | '$' | '+' | '|' => run.clear(),
            _ if depth > 0 => run.clear(),
            _ => {
                run.push(c);
                // A following quantifier makes this character optional: decide then.
                if !matches!(chars.peek(), Some('?' | '*' | '{')) {
                    keep(&run, &mut best);
                }
            }
        }
    }
    (best.len() >= 3).then_some(best)
}

/// osinfo_media_matches: the fields that matched, or None.
fn matches(
    cache: &mut Cache,
    media: &Media,
    ids: &MediaIds,
) -> Result<Option<Vec<(&'static str, String)>>, DbError> {
    if media.volume_id.is_none()
        && media.system_id.is_none()
        && media.publisher_id.is_none()
        && media.application_id.is_none()
        && media.volume_size.unwrap_or(0) <= 0
    {
        return Ok(None);
    }
    if let Some(arch) = &ids.arch {
        if media.arch != *arch && media.arch != "all" {
            return Ok(None);
        }
    }
    if let Some(size) = media.volume_size.filter(|s| *s > 0) {
        if u64::try_from(size).ok() != Some(ids.volume_size) {
            return Ok(None);
        }
    }
    let mut matched = Vec::new();
    for (field, pattern, text) in [
        ("volume-id", &media.volume_id, &ids.volume_id),
        ("application-id", &media.application_id, &ids.application_id),
        ("system-id", &media.system_id, &ids.system_id),
        ("publisher-id", &media.publisher_id, &ids.publisher_id),
    ] {
        match search(cache, pattern.as_deref(), text)? {
            Some(false) => return Ok(None),
            Some(true) => matched.push((field, pattern.clone().unwrap_or_default())),
            None => {}
        }
    }
    Ok(Some(matched))
}

/// libosinfo's media_volume_compare: an entry whose volume-id regex contains the other's
/// sorts first; with equal ones, an entry with a volume size first.
fn volume_first(a: &Media, b: &Media) -> bool {
    match (&a.volume_id, &b.volume_id) {
        (Some(va), Some(vb)) if va.contains(vb.as_str()) => {
            !(a.volume_size.is_none() && b.volume_size.is_some())
        }
        (Some(_), Some(_)) => false,
        // Order does not matter: keep it.
        _ => true,
    }
}

/// g_list_sort's stable merge sort with `first(a, b)` meaning "a may stay before b";
/// Rust's sort needs a total order, which libosinfo's comparison is not.
fn merge_sort(items: Vec<Media>) -> Vec<Media> {
    if items.len() <= 1 {
        return items;
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let (left, right) = (merge_sort(left), merge_sort(right));
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        if volume_first(a, b) {
            out.extend(l.next());
        } else {
            out.extend(r.next());
        }
    }
    out.extend(l);
    out.extend(r);
    out
}

/// The first match over `oses`, with libosinfo's preferred and fallback passes.
///
/// # Errors
/// A media regex does not compile.
pub fn identify(oses: &[Os], ids: &MediaIds) -> Result<Option<Match>, DbError> {
    let mut cache = Cache::new();
    let mut fallbacks: Vec<&Os> = Vec::new();
    for os in oses {
        let rolling = os.release_status.as_deref() == Some("rolling");
        let mut has_fallback = false;
        for media in merge_sort(os.media.clone()) {
            if media.arch == "all" || rolling {
                has_fallback = true;
                continue;
            }
            if let Some(matched) = matches(&mut cache, &media, ids)? {
                return Ok(Some(Match {
                    os: os.clone(),
                    media,
                    matched,
                    fallback: false,
                }));
            }
        }
        if has_fallback {
            fallbacks.push(os);
        }
    }
    // libosinfo prepends fallbacks to its list: the last one seen is tried first.
    for os in fallbacks.into_iter().rev() {
        for media in merge_sort(os.media.clone()) {
            if let Some(matched) = matches(&mut cache, &media, ids)? {
                return Ok(Some(Match {
                    os: os.clone(),
                    media,
                    matched,
                    fallback: true,
                }));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(volume: &str, arch: &str) -> Media {
        Media {
            arch: arch.into(),
            volume_id: Some(volume.into()),
            installer: true,
            ..Media::default()
        }
    }

    fn os(id: &str, status: Option<&str>, media: Vec<Media>) -> Os {
        Os {
            id: id.into(),
            short_ids: vec![id.into()],
            name: id.into(),
            version: None,
            vendor: None,
            family: None,
            distro: None,
            release_status: status.map(str::to_string),
            derives_from: vec![],
            clones: vec![],
            upgrades: vec![],
            firmware: vec![],
            devices: vec![],
            resources: vec![],
            media,
            trees: vec![],
            file: "x".into(),
        }
    }

    fn ids(volume: &str) -> MediaIds {
        MediaIds {
            volume_id: volume.into(),
            ..MediaIds::default()
        }
    }

    #[test]
    fn regexes_search_unanchored_and_case_sensitive() {
        let oses = [os("a", None, vec![media("Debian 11", "x86_64")])];
        assert!(
            identify(&oses, &ids("Debian 11.5.0 amd64 n"))
                .unwrap()
                .is_some()
        );
        assert!(identify(&oses, &ids("debian 11")).unwrap().is_none());
        let oses = [os("b", None, vec![media("(?i)fedora", "x86_64")])];
        assert!(identify(&oses, &ids("FEDORA-WS")).unwrap().is_some());
    }

    #[test]
    fn rolling_and_arch_all_only_as_fallback() {
        let oses = [
            os("rolling", Some("rolling"), vec![media("Linux", "x86_64")]),
            os("generic", None, vec![media("Linux", "all")]),
            os("specific", None, vec![media("Linux 9", "x86_64")]),
        ];
        let m = identify(&oses, &ids("Linux 9")).unwrap().unwrap();
        assert_eq!((m.os.id.as_str(), m.fallback), ("specific", false));
        // Nothing specific: the last fallback OS is tried first, as libosinfo prepends.
        let m = identify(&oses, &ids("Linux 8")).unwrap().unwrap();
        assert_eq!((m.os.id.as_str(), m.fallback), ("generic", true));
    }

    #[test]
    fn an_entry_without_ids_matches_nothing_and_sizes_must_be_equal() {
        let empty = Media {
            arch: "x86_64".into(),
            ..Media::default()
        };
        let sized = Media {
            volume_size: Some(1000),
            ..media("X", "x86_64")
        };
        let oses = [os("a", None, vec![empty, sized])];
        assert!(identify(&oses, &ids("X")).unwrap().is_none());
        let mut with_size = ids("X");
        with_size.volume_size = 1000;
        assert!(identify(&oses, &with_size).unwrap().is_some());
    }

    #[test]
    fn required_literals_are_really_required() {
        let cases = [
            ("Fedora-S-dvd-x86_64-36", Some("Fedora-S-dvd-x86_64-36")),
            ("Debian 11.5.0 amd64", Some("Debian 11")),
            ("^CentOS 7 x86_64", Some("CentOS 7 x86_64")),
            ("openSUSE-Leap-42.3-NET-x86_64*", Some("openSUSE-Leap-42")),
            ("abcd?ef", Some("abc")),
            ("UCS 4.0-\\d+ amd64 1", Some(" amd64 1")),
            ("a.b", None),
            ("(ALT|Simply) Linux", Some(" Linux")),
            ("SLE-15-SP[1-9]-Installer", Some("-Installer")),
            ("Fedora|CentOS", None),
            ("(?i)fedora", None),
            ("RHEL-9-1-(([0-9]|[1-9][0-9])-)?BaseOS", Some("RHEL-9-1-")),
            ("abcx{0,2}defg", Some("defg")),
        ];
        for (pattern, want) in cases {
            assert_eq!(required_literal(pattern).as_deref(), want, "{pattern}");
            if let Some(lit) = want {
                // The literal alone must not be rejected where the regex matches.
                let re = Regex::new(pattern).unwrap();
                for text in [pattern.replace(['^', '\\'], ""), format!("x{lit}y")] {
                    if re.is_match(&text).unwrap() {
                        assert!(text.contains(lit), "{pattern} / {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_more_specific_volume_regex_is_tried_first() {
        let sorted = merge_sort(vec![
            media("Fedora", "x86_64"),
            media("Fedora-S-dvd", "x86_64"),
        ]);
        assert_eq!(sorted[0].volume_id.as_deref(), Some("Fedora-S-dvd"));
    }
}
