//! Install trees, the `--location` of virt-install: a local directory or an `http(s)://`
//! URL holding a distribution's tree, in the Debian/Ubuntu layout
//! (`.../dists/SUITE/main/installer-ARCH/`) or with a `.treeinfo` (Fedora, RHEL, CentOS,
//! openSUSE). Finds the kernel and initrd and the checksums the tree publishes for them
//! (virtinst/install/urldetect.py knows the same paths). A tree is hostile input: its
//! paths may not leave it, every read is bounded, redirects may not change to another
//! scheme (only http to https).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// The most a tree's index file (`.treeinfo`, `SHA256SUMS`) may hold.
pub const MAX_INDEX: u64 = 1 << 20;
/// The most a kernel or an initrd may hold (a Fedora DVD's initrd is ~150 MiB).
pub const MAX_IMAGE: u64 = 1 << 30;
/// Redirects followed per request.
const MAX_REDIRECTS: usize = 5;
/// Connecting may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A server silent for this long (headers or body) is given up on.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A whole request, body included, may take this long (a slow drip is refused too).
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where a tree is: a local directory (canonical) or a URL whose path ends in `/`.
pub enum Tree {
    /// A directory on this machine.
    Dir(PathBuf),
    /// An `http://` or `https://` URL, and the client that fetches from it.
    Http(String, Box<ureq::Agent>),
}

/// A file of the tree, open for reading, and the length it announces (HTTP's
/// Content-Length may be absent).
pub type Opened = (Box<dyn Read>, Option<u64>);

/// The kernel and initrd a tree boots, as paths relative to its root, with the SHA-256
/// the tree publishes for each (lower-case hex), and the kernel arguments it needs.
#[derive(Debug, Default)]
pub struct TreeBoot {
    /// Which layout found them: `debian`, `ubuntu` or `treeinfo`.
    pub layout: String,
    /// The kernel, relative to the tree.
    pub kernel: String,
    /// The initrd, relative to the tree.
    pub initrd: String,
    /// Checksums the tree publishes, by path relative to the tree.
    pub sha256: HashMap<String, String>,
    /// Arguments the installer needs to find the rest of the tree (`inst.repo=URL`).
    pub cmdline: Option<String>,
}

/// Whether `text` names an install tree over HTTP(S) rather than a file.
pub fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

impl Tree {
    /// The tree at `location`: a URL (see [`is_url`]) or an existing directory.
    ///
    /// # Errors
    /// A URL with a control character, a query or a fragment (3); a directory that cannot be
    /// resolved (4).
    pub fn open(location: &str) -> Result<Tree> {
        if is_url(location) {
            if location
                .chars()
                .any(|c| c.is_control() || matches!(c, ' ' | '#' | '?'))
            {
                return Err(Error::input(
                    location,
                    "not a tree URL domkit fetches (spaces, control characters, queries, fragments)",
                ));
            }
            let mut base = location.to_string();
            if !base.ends_with('/') {
                base.push('/');
            }
            let agent = ureq::Agent::config_builder()
                .max_redirects(0)
                .http_status_as_error(false)
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_per_read(Some(READ_TIMEOUT))
                .timeout_global(Some(TOTAL_TIMEOUT))
                .user_agent(concat!("domkit/", env!("CARGO_PKG_VERSION")))
                .build()
                .new_agent();
            return Ok(Tree::Http(base, Box::new(agent)));
        }
        let root = fs::canonicalize(location).map_err(|e| Error::io(location, e))?;
        Ok(Tree::Dir(root))
    }

    /// How the tree is named in messages: its URL or directory.
    pub fn name(&self) -> String {
        match self {
            Tree::Dir(root) => root.display().to_string(),
            Tree::Http(base, _) => base.clone(),
        }
    }

    /// Opens `relative` inside the tree for reading: `Ok(None)` when it is not there
    /// (404, no such file), else a reader and the length it announces.
    ///
    /// # Errors
    /// A path that would leave the tree, a redirect to another scheme or too many of
    /// them, an HTTP failure (3); a local file that cannot be read (4).
    pub fn open_file(&self, relative: &str) -> Result<Option<Opened>> {
        check_relative(&self.name(), relative)?;
        match self {
            Tree::Dir(root) => {
                let path = root.join(relative);
                let shown = path.display().to_string();
                let real = match fs::canonicalize(&path) {
                    Ok(real) => real,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(&shown, e)),
                };
                if !real.starts_with(root) {
                    return Err(Error::input(&shown, "a symlink out of the tree"));
                }
                let file = File::open(&real).map_err(|e| Error::io(&shown, e))?;
                let meta = file.metadata().map_err(|e| Error::io(&shown, e))?;
                if !meta.is_file() {
                    return Err(Error::input(&shown, "not a regular file"));
                }
                Ok(Some((Box::new(file), Some(meta.len()))))
            }
            Tree::Http(base, agent) => fetch(agent, &format!("{base}{relative}")),
        }
    }

    /// Reads a whole index file of the tree, at most [`MAX_INDEX`] bytes, as text;
    /// `Ok(None)` when the tree has none.
    ///
    /// # Errors
    /// As [`Tree::open_file`]; larger than the cap, or not UTF-8 (3).
    pub fn read_index(&self, relative: &str) -> Result<Option<String>> {
        let shown = format!("{}{relative}", self.shown_base());
        let Some((reader, _)) = self.open_file(relative)? else {
            return Ok(None);
        };
        let data = read_bounded(&shown, reader, MAX_INDEX)?;
        String::from_utf8(data)
            .map(Some)
            .map_err(|_| Error::input(&shown, "not UTF-8 text"))
    }

    /// The tree's name with a separator, for naming a file inside it.
    pub fn shown_base(&self) -> String {
        match self {
            Tree::Dir(root) => format!("{}/", root.display()),
            Tree::Http(base, _) => base.clone(),
        }
    }
}

/// Reads `reader` to its end, refusing more than `limit` bytes.
fn read_bounded(shown: &str, reader: Box<dyn Read>, limit: u64) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| fetch_error(shown, e))?;
    if data.len() as u64 > limit {
        return Err(too_large(shown, limit));
    }
    Ok(data)
}

/// The error for a file past its cap.
pub fn too_large(shown: &str, limit: u64) -> Error {
    Error::input(
        shown,
        format!("larger than {} MiB, the most domkit reads", limit >> 20),
    )
}

/// A read from a tree that failed: a network failure is the server's doing (3), a local
/// read error is I/O (4).
pub fn fetch_error(shown: &str, e: io::Error) -> Error {
    if is_url(shown) {
        Error::input(shown, e.to_string())
    } else {
        Error::io(shown, e)
    }
}

/// Refuses a path from the tree (or from the user) that is not plainly inside it.
fn check_relative(tree: &str, relative: &str) -> Result<()> {
    let bad = relative.is_empty()
        || relative.starts_with('/')
        || relative
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        || relative
            .chars()
            .any(|c| c.is_control() || matches!(c, '?' | '#' | '%' | '\\' | ' '));
    if bad {
        return Err(Error::input(
            tree,
            format!("{relative}: not a path inside the tree"),
        ));
    }
    Ok(())
}

/// GETs `url`, following up to [`MAX_REDIRECTS`] redirects of the same scheme or from
/// http to https; `Ok(None)` on 404 or 410.
fn fetch(agent: &ureq::Agent, url: &str) -> Result<Option<Opened>> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = agent
            .get(&url)
            .call()
            .map_err(|e| Error::input(&url, e.to_string()))?;
        let status = response.status().as_u16();
        match status {
            200 => {
                let body = response.into_body();
                let length = body.content_length();
                return Ok(Some((Box::new(body.into_reader()), length)));
            }
            404 | 410 => return Ok(None),
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Error::input(&url, format!("HTTP {status} without a Location"))
                    })?;
                url = redirect_target(&url, location)?;
            }
            other => {
                return Err(Error::input(&url, format!("HTTP status {other}")));
            }
        }
    }
    Err(Error::input(
        &url,
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}

/// The URL a redirect from `from` to `location` leads to, refused unless it keeps the
/// scheme or goes from http to https.
fn redirect_target(from: &str, location: &str) -> Result<String> {
    let refuse = |why: &str| Error::input(from, format!("redirect to {location}: {why}"));
    if location.chars().any(|c| c.is_control() || c == ' ') {
        return Err(refuse("not a URL"));
    }
    let from_https = from.starts_with("https://");
    let scheme_end = location.find(':').filter(|&i| {
        location[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && i > 0
    });
    let target = if let Some(i) = scheme_end {
        let scheme = location[..i].to_ascii_lowercase();
        match (scheme.as_str(), from_https) {
            ("https", _) | ("http", false) => format!("{scheme}{}", &location[i..]),
            ("http", true) => return Err(refuse("from https to http")),
            _ => return Err(refuse("another scheme (only http and https are followed)")),
        }
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{}://{rest}", if from_https { "https" } else { "http" })
    } else {
        let after_scheme = from.find("://").map_or(0, |i| i + 3);
        let origin_end = from[after_scheme..]
            .find('/')
            .map_or(from.len(), |i| after_scheme + i);
        if location.starts_with('/') {
            format!("{}{location}", &from[..origin_end])
        } else {
            let dir_end = from
                .rfind('/')
                .filter(|&i| i >= origin_end)
                .map_or(from.len(), |i| i + 1);
            format!("{}{location}", &from[..dir_end])
        }
    };
    Ok(without_dot_segments(&target))
}

/// `url` with its path's `.` and `..` segments resolved (RFC 3986 5.2.4), as a browser
/// resolves a relative redirect; `..` never climbs above the root.
fn without_dot_segments(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let Some(path_start) = url[after_scheme..].find('/').map(|i| after_scheme + i) else {
        return url.to_string();
    };
    let (path, query) = url[path_start..]
        .split_once('?')
        .map_or((&url[path_start..], None), |(p, q)| (p, Some(q)));
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    kept.pop();
                }
                if last {
                    kept.push("");
                }
            }
            other => kept.push(other),
        }
    }
    let mut out = format!("{}/{}", &url[..path_start], kept.join("/"));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Finds the kernel and initrd of the tree: `.treeinfo` first (as virt-install), then
/// the Debian/Ubuntu installer layout; `Ok(None)` when neither is there.
///
/// # Errors
/// A damaged index (3), a failed read (as [`Tree::open_file`]).
pub fn find(tree: &Tree) -> Result<Option<TreeBoot>> {
    for name in [".treeinfo", "treeinfo"] {
        if let Some(text) = tree.read_index(name)? {
            return treeinfo(tree, &format!("{}{name}", tree.shown_base()), &text).map(Some);
        }
    }
    debian(tree)
}

/// One `.treeinfo`: `[images-ARCH]` kernel and initrd for the tree's arch, `[checksums]`
/// `PATH = sha256:HEX`.
fn treeinfo(tree: &Tree, shown: &str, text: &str) -> Result<TreeBoot> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut order = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            order.push(current.clone());
            sections.entry(current.clone()).or_default();
        } else if let Some((key, value)) = line.split_once('=') {
            sections
                .entry(current.clone())
                .or_default()
                .insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    let arch = ["general", "tree"]
        .iter()
        .find_map(|s| sections.get(*s)?.get("arch").cloned());
    let images = match arch {
        Some(a) if sections.contains_key(&format!("images-{a}")) => format!("images-{a}"),
        _ => order
            .iter()
            .find(|s| s.starts_with("images-") && s.as_str() != "images-xen")
            .cloned()
            .ok_or_else(|| Error::input(shown, "no [images-ARCH] section"))?,
    };
    let section = &sections[&images];
    let (Some(kernel), Some(initrd)) = (section.get("kernel"), section.get("initrd")) else {
        return Err(Error::input(
            shown,
            format!("[{images}] names no kernel and initrd"),
        ));
    };
    let mut sha256 = HashMap::new();
    if let Some(sums) = sections.get("checksums") {
        for (path, value) in sums {
            if let Some(hex) = value.strip_prefix("sha256:") {
                sha256.insert(path.clone(), checked_hex(shown, hex)?);
            }
        }
    }
    let family = ["general", "release"]
        .iter()
        .find_map(|s| {
            sections
                .get(*s)?
                .get("family")
                .or(sections.get(*s)?.get("name"))
                .cloned()
        })
        .unwrap_or_default();
    let cmdline = match tree {
        Tree::Http(base, _) if family.to_ascii_lowercase().contains("suse") => {
            Some(format!("install={base}"))
        }
        Tree::Http(base, _) => Some(format!("inst.repo={base}")),
        Tree::Dir(_) => None,
    };
    Ok(TreeBoot {
        layout: "treeinfo".into(),
        kernel: kernel.clone(),
        initrd: initrd.clone(),
        sha256,
        cmdline,
    })
}

/// A SHA-256 in hex from a tree's index, lower-cased.
fn checked_hex(shown: &str, hex: &str) -> Result<String> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::input(shown, format!("{hex}: not a SHA-256")));
    }
    Ok(hex.to_ascii_lowercase())
}

/// The Debian/Ubuntu installer layout: the tree is `.../installer-ARCH/`, the netboot
/// kernel and initrd under `current/images/netboot/{debian,ubuntu}-installer/ARCH/`,
/// checksums in `current/images/SHA256SUMS`.
fn debian(tree: &Tree) -> Result<Option<TreeBoot>> {
    const IMAGES: &str = "current/images/";
    let sums_name = format!("{IMAGES}SHA256SUMS");
    let sums_shown = format!("{}{sums_name}", tree.shown_base());
    let mut sha256 = HashMap::new();
    if let Some(text) = tree.read_index(&sums_name)? {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some((hex, path)) = line.split_once(char::is_whitespace) else {
                return Err(Error::input(&sums_shown, format!("{line}: not HEX  PATH")));
            };
            let path = path.trim_start().trim_start_matches('*');
            let path = path.strip_prefix("./").unwrap_or(path);
            sha256.insert(format!("{IMAGES}{path}"), checked_hex(&sums_shown, hex)?);
        }
    }
    let name = tree.name();
    let arch = name
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|last| last.strip_prefix("installer-"))
        .map(str::to_string);
    let arches: Vec<String> = match arch {
        Some(a) => vec![a],
        None => sha256
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(&format!("{IMAGES}netboot/"))?;
                let (_, rest) = rest.split_once("-installer/")?;
                rest.strip_suffix("/linux").map(str::to_string)
            })
            .collect(),
    };
    for arch in &arches {
        for family in ["debian", "ubuntu"] {
            let dir = format!("{IMAGES}netboot/{family}-installer/{arch}/");
            let kernel = format!("{dir}linux");
            let known = sha256.contains_key(&kernel);
            if known || (sha256.is_empty() && tree.open_file(&kernel)?.is_some()) {
                return Ok(Some(TreeBoot {
                    layout: family.into(),
                    kernel,
                    initrd: format!("{dir}initrd.gz"),
                    sha256,
                    cmdline: None,
                }));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_scheme_or_go_to_https() {
        let from = "http://a.example/d/x/file";
        let to = |l| redirect_target(from, l).map_err(|e| e.to_string());
        assert_eq!(to("/y/z").unwrap(), "http://a.example/y/z");
        assert_eq!(to("z").unwrap(), "http://a.example/d/x/z");
        assert_eq!(to("../y/./z").unwrap(), "http://a.example/d/y/z");
        assert_eq!(to("../../../../z").unwrap(), "http://a.example/z");
        assert_eq!(to("..").unwrap(), "http://a.example/d/");
        assert_eq!(to("/a/b/../c?q=1").unwrap(), "http://a.example/a/c?q=1");
        assert_eq!(to("//b.example/q").unwrap(), "http://b.example/q");
        assert_eq!(to("HTTPS://b.example/q").unwrap(), "https://b.example/q");
        for bad in ["file:///etc/passwd", "ftp://b.example/q", "gopher:x", "a b"] {
            assert!(to(bad).is_err(), "{bad}");
        }
        let down = redirect_target("https://a.example/f", "http://a.example/f");
        assert!(down.unwrap_err().to_string().contains("from https to http"));
        assert_eq!(
            redirect_target("https://a.example/f", "//c.example/g").unwrap(),
            "https://c.example/g"
        );
    }

    #[test]
    fn tree_paths_stay_inside() {
        for good in [
            "images/pxeboot/vmlinuz",
            "current/images/SHA256SUMS",
            ".treeinfo",
        ] {
            assert!(check_relative("t", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a?b",
            "a%2e",
            "a\nb",
        ] {
            assert!(check_relative("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn treeinfo_picks_the_tree_arch_and_reads_sha256_sums() {
        let text = "[general]\narch = x86_64\nfamily = openSUSE\n[images-xen]\nkernel = x\ninitrd = y\n[images-x86_64]\nkernel = k\ninitrd = i\n[checksums]\nk = sha256:AB00000000000000000000000000000000000000000000000000000000000000\ni = md5:00\n";
        let tree = Tree::Dir(PathBuf::from("/t"));
        let boot = treeinfo(&tree, "t", text).unwrap();
        assert_eq!((boot.kernel.as_str(), boot.initrd.as_str()), ("k", "i"));
        assert_eq!(boot.sha256.len(), 1);
        assert!(boot.sha256["k"].starts_with("ab00"));
        assert_eq!(boot.cmdline, None);
        assert!(treeinfo(&tree, "t", "[general]\n").is_err());
        assert!(
            treeinfo(
                &tree,
                "t",
                "[images-x86_64]\nkernel=k\ninitrd=i\n[checksums]\nk = sha256:zz\n"
            )
            .is_err()
        );
    }
}
