//! Evidence from a running guest: its serial console as a stream of bytes
//! (virDomainOpenConsole, read on a thread of its own) and screenshots of its display
//! (virDomainScreenshot: PNG as QEMU >= 7.1 writes it, or its older PPM converted to PNG).

use std::io::Write;
use std::sync::mpsc::Sender;

use virt::connect::Connect;
use virt::domain::Domain;
use virt::stream::Stream;

use crate::libvirt::events::Notice;

/// Opens the domain's first console and forwards what it prints to `tx` as
/// `Notice::Console` tagged with `watch`, from a thread of its own, until the stream ends
/// (the guest stopped, or the connection went away); then sends `Notice::ConsoleEnd`.
///
/// # Errors
/// libvirt's error: no console, a console that is not a pty, or one already in use.
pub fn follow(
    conn: &Connect,
    dom: &Domain,
    watch: usize,
    tx: Sender<Notice>,
) -> Result<(), virt::error::Error> {
    let stream = Stream::new(conn, 0)?;
    // FORCE: a console left open by an earlier, killed dom-wait-shutdown is taken over.
    dom.open_console(None, &stream, virt::sys::VIR_DOMAIN_CONSOLE_FORCE)?;
    std::thread::Builder::new()
        .name(format!("console-{watch}"))
        .spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stream.recv(&mut buf) {
                    Ok(n) if n > 0 => {
                        let data = buf[..n as usize].to_vec();
                        if tx.send(Notice::Console { watch, data }).is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            let _ = tx.send(Notice::ConsoleEnd { watch });
        })
        .map_err(|_| virt::error::Error::last_error())?;
    Ok(())
}

/// What a running guest offers a waiter, read from its live XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offers {
    /// The type of the character device [`follow`] opens (libvirt's default console:
    /// qemuDomainOpenConsole takes the first `<console>`, else the first `<serial>`), or
    /// `None` without either. Only `pty` can be followed: libvirt refuses any other
    /// ("character device console0 is not using a PTY").
    pub console: Option<String>,
    /// A video device, without which a screenshot has no screen (qemuDomainScreenshot:
    /// "no screens to take screenshot from").
    pub video: bool,
}

impl Offers {
    /// Reads them from a domain's XML.
    ///
    /// # Errors
    /// Malformed XML.
    pub fn of_xml(xml: &str) -> crate::error::Result<Offers> {
        let doc = crate::xml::Document::parse("live XML", xml)?;
        let Some(devices) = crate::xml::domain::devices(&doc) else {
            return Ok(Offers {
                console: None,
                video: false,
            });
        };
        let console = doc
            .child(devices, "console")
            .or_else(|| doc.child(devices, "serial"))
            .map(|c| doc.attr(c, "type").unwrap_or("pty").to_string());
        let video = doc.children_named(devices, "video").any(|v| {
            doc.child(v, "model")
                .and_then(|m| doc.attr(m, "type"))
                .is_none_or(|t| t != "none")
        });
        Ok(Offers { console, video })
    }

    /// Reads them from a running domain.
    ///
    /// # Errors
    /// libvirt's error, as a message, or malformed XML.
    pub fn of(dom: &Domain) -> Result<Offers, String> {
        let xml = dom
            .xml_desc(0)
            .map_err(|e| crate::libvirt::connect::one_line(e.message()))?;
        Offers::of_xml(&xml).map_err(|e| e.to_string())
    }
}

/// A screenshot of the domain's first screen, as PNG bytes.
///
/// # Errors
/// libvirt's error (a guest without a display has no screen), or an image format other
/// than the PPM QEMU sends, as a message.
pub fn screenshot_png(conn: &Connect, dom: &Domain) -> Result<Vec<u8>, String> {
    let stream =
        Stream::new(conn, 0).map_err(|e| crate::libvirt::connect::one_line(e.message()))?;
    let mime = dom
        .screenshot(&stream, 0, 0)
        .map_err(|e| crate::libvirt::connect::one_line(e.message()))?;
    let mut image = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.recv(&mut buf) {
            Ok(0) => break,
            Ok(n) if n > 0 => image.extend_from_slice(&buf[..n as usize]),
            Ok(_) | Err(_) => {
                let _ = stream.abort();
                return Err("the screenshot stream broke off".into());
            }
        }
    }
    let _ = stream.finish();
    // libvirt 9 with QEMU >= 7.1 asks for PNG itself; older QEMU sends PPM.
    if mime == "image/png" && image.starts_with(PNG_SIGNATURE) {
        return Ok(image);
    }
    ppm_to_png(&image).map_err(|e| format!("screenshot ({mime}): {e}"))
}

/// The first bytes of every PNG file.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A binary PPM (P6, 8 bits per sample) as an RGB PNG.
///
/// # Errors
/// Not such a PPM.
pub fn ppm_to_png(ppm: &[u8]) -> Result<Vec<u8>, String> {
    let (width, height, pixels) = parse_ppm(ppm)?;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Width, height and the RGB bytes of a P6 PPM with maxval 255.
fn parse_ppm(ppm: &[u8]) -> Result<(u32, u32, &[u8]), String> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while fields.len() < 4 {
        while pos < ppm.len() && (ppm[pos].is_ascii_whitespace() || ppm[pos] == b'#') {
            if ppm[pos] == b'#' {
                while pos < ppm.len() && ppm[pos] != b'\n' {
                    pos += 1;
                }
            } else {
                pos += 1;
            }
        }
        let start = pos;
        while pos < ppm.len() && !ppm[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err("not a PPM image (header cut short)".into());
        }
        fields.push(&ppm[start..pos]);
    }
    // One whitespace byte ends the header.
    pos += 1;
    if fields[0] != b"P6" {
        return Err("not a binary PPM image (P6)".into());
    }
    let number = |f: &[u8]| -> Result<u32, String> {
        std::str::from_utf8(f)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "PPM header is not numeric".to_string())
    };
    let (width, height, maxval) = (number(fields[1])?, number(fields[2])?, number(fields[3])?);
    if maxval != 255 || width == 0 || height == 0 {
        return Err(format!(
            "unsupported PPM ({width}x{height}, maxval {maxval})"
        ));
    }
    let size = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(3))
        .ok_or("PPM too large")?;
    let pixels = ppm.get(pos..pos + size).ok_or("PPM pixel data cut short")?;
    Ok((width, height, pixels))
}

/// Writes `bytes` to `path` whole (through a temporary file renamed into place, so a
/// reader never sees half an image).
///
/// # Errors
/// The I/O error.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_default_console_and_a_screen_are_read_from_the_live_xml() {
        let offers = |devices: &str| {
            Offers::of_xml(&format!("<domain><devices>{devices}</devices></domain>")).unwrap()
        };
        let file = offers(
            "<serial type='file'><source path='/l'/></serial><console type='file'><target type='serial'/></console>",
        );
        assert_eq!(file.console.as_deref(), Some("file"));
        assert!(!file.video);
        let pty = offers(
            "<serial type='pty'><log file='/l' append='on'/></serial><video><model type='vga'/></video>",
        );
        assert_eq!(pty.console.as_deref(), Some("pty"));
        assert!(pty.video);
        let none = offers("<video><model type='none'/></video>");
        assert_eq!(
            none,
            Offers {
                console: None,
                video: false
            }
        );
    }
    use super::*;

    #[test]
    fn a_ppm_becomes_a_png_that_decodes_to_the_same_pixels() {
        let mut ppm = b"P6\n# comment\n2 1\n255\n".to_vec();
        ppm.extend_from_slice(&[255, 0, 0, 0, 0, 255]);
        let png_bytes = ppm_to_png(&ppm).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (2, 1));
        assert_eq!(&buf[..6], &[255, 0, 0, 0, 0, 255]);
        assert!(ppm_to_png(b"P5\n1 1\n255\n\0").is_err());
        assert!(ppm_to_png(b"P6\n2 2\n255\n\0\0\0").is_err());
    }
}
