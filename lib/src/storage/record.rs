//! The one-line JSON record `dom-vol` prints per volume, and that `domxml-gen --spec`
//! reads: where the volume is on the host, how big, in which format, on which backing,
//! what was done, and (with `--for`) which domxml-gen setting it is for.

use serde::{Deserialize, Serialize};

/// One volume, as `dom-vol` leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolRecord {
    /// The pool's name.
    pub pool: String,
    /// The volume's name.
    pub name: String,
    /// libvirt's key for the volume (for a directory pool, its path); null once deleted.
    pub key: Option<String>,
    /// The volume's path on the host (never the client's); null once deleted.
    pub path: Option<String>,
    /// Capacity in bytes (for qcow2, the virtual size); null once deleted.
    pub capacity: Option<u64>,
    /// Bytes allocated on the host; null once deleted.
    pub allocation: Option<u64>,
    /// Format: raw, qcow2, iso, ...; null once deleted.
    pub format: Option<String>,
    /// The backing volume's host path (qcow2 overlays), else null.
    pub backing: Option<String>,
    /// The connection URI (without password).
    pub uri: String,
    /// What was done: created, uploaded, exists, deleted, already-absent.
    pub action: String,
    /// The domxml-gen setting the volume is for (kernel, initrd, disk, cdrom,
    /// install-disk), when `--for` named one.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_setting: Option<String>,
}

impl VolRecord {
    /// The record as one line of JSON, with its newline.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("records serialize");
        line.push('\n');
        line
    }
}
