//! cloud-init NoCloud seed images: `user-data`, `meta-data` and the optional
//! `network-config` and `vendor-data` on a filesystem labelled `cidata`, as ISO 9660
//! (Rock Ridge and Joliet names) or FAT, written by the general image writer
//! ([`super::image`]).
//!
//! NoCloud only takes a seed that has both `user-data` and `meta-data`. A missing
//! `meta-data` is generated with an `instance-id` derived from the other files' contents
//! (a changed seed is a new instance to cloud-init, the same seed is the same instance); a
//! missing `user-data` is written empty.

use super::image;
pub use super::image::Format;

/// Largest input file a seed takes: seeds carry configuration, not payloads.
pub const MAX_FILE: u64 = 16 << 20;

/// The seed's files; None when not given.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// cloud-init user-data (`#cloud-config`, a script, MIME multipart, ...).
    pub user_data: Option<Vec<u8>>,
    /// NoCloud meta-data (YAML: `instance-id`, `local-hostname`).
    pub meta_data: Option<Vec<u8>>,
    /// Network configuration (version 1 or 2).
    pub network_config: Option<Vec<u8>>,
    /// Vendor data.
    pub vendor_data: Option<Vec<u8>>,
}

/// 64-bit FNV-1a: a stable, dependency-free digest for instance ids (not for security).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        // Length-prefixed, so that moving bytes between files changes the digest.
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl Files {
    /// The instance id a generated meta-data names: `iid-` and a digest of the other files.
    pub fn derived_instance_id(&self) -> String {
        fn part(f: &Option<Vec<u8>>) -> &[u8] {
            f.as_deref().unwrap_or_default()
        }
        let digest = fnv1a(&[
            part(&self.user_data),
            part(&self.network_config),
            part(&self.vendor_data),
        ]);
        format!("iid-{digest:016x}")
    }

    /// The files as they go on the seed: meta-data generated (with `instance_id`, else a
    /// derived one, and `hostname`) and user-data empty when not given.
    pub fn complete(
        &self,
        instance_id: Option<&str>,
        hostname: Option<&str>,
    ) -> Vec<(&'static str, Vec<u8>)> {
        let meta = self.meta_data.clone().unwrap_or_else(|| {
            let id = instance_id
                .map(str::to_string)
                .unwrap_or_else(|| self.derived_instance_id());
            let mut text = format!("instance-id: {id}\n");
            if let Some(h) = hostname {
                text.push_str(&format!("local-hostname: {h}\n"));
            }
            text.into_bytes()
        });
        let mut out = vec![
            ("meta-data", meta),
            ("user-data", self.user_data.clone().unwrap_or_default()),
        ];
        if let Some(n) = &self.network_config {
            out.push(("network-config", n.clone()));
        }
        if let Some(v) = &self.vendor_data {
            out.push(("vendor-data", v.clone()));
        }
        out
    }
}

/// The seed's labels: NoCloud looks for `cidata` or `CIDATA`, and FAT labels are upper
/// case.
pub fn label(format: Format) -> &'static str {
    match format {
        Format::Iso => "cidata",
        Format::Fat => "CIDATA",
    }
}

/// The seed image's bytes.
///
/// # Errors
/// Only FAT formatting can fail (an I/O error on the in-memory image).
pub fn build(
    files: &[(&'static str, Vec<u8>)],
    format: Format,
    epoch: i64,
) -> std::io::Result<Vec<u8>> {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    image::build(label(format), &files, format, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_follow_contents() {
        let a = Files {
            user_data: Some(b"#cloud-config\n".to_vec()),
            ..Files::default()
        };
        let mut b = a.clone();
        assert_eq!(a.derived_instance_id(), b.derived_instance_id());
        b.network_config = Some(b"version: 2\n".to_vec());
        assert_ne!(a.derived_instance_id(), b.derived_instance_id());
        assert!(a.derived_instance_id().starts_with("iid-"));
    }

    #[test]
    fn meta_data_and_user_data_are_always_there() {
        let files = Files::default().complete(Some("vm1"), Some("vm1.example"));
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["meta-data", "user-data"]);
        assert_eq!(
            files[0].1,
            b"instance-id: vm1\nlocal-hostname: vm1.example\n"
        );
        assert!(files[1].1.is_empty());
    }
}
