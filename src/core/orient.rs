//! EXIF orientation: read from the raw EXIF block with a bounded TIFF walk, applied to the
//! pixels so the output is upright (the tag itself is dropped with all other metadata).

use super::bytes::{slice, u16_endian, u32_endian};
use super::error::Rejection;
use super::pixels::{buffer_len, Pixels};

/// The eight EXIF orientations (TIFF tag 0x0112). Anything else counts as `Normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Orientation {
    Normal = 1,
    FlipH = 2,
    Rotate180 = 3,
    FlipV = 4,
    Transpose = 5,
    Rotate90 = 6,
    Transverse = 7,
    Rotate270 = 8,
}

impl Orientation {
    pub fn from_value(v: u16) -> Orientation {
        match v {
            2 => Orientation::FlipH,
            3 => Orientation::Rotate180,
            4 => Orientation::FlipV,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate270,
            _ => Orientation::Normal,
        }
    }
    /// Whether applying it swaps width and height.
    pub const fn swaps_axes(self) -> bool {
        matches!(
            self,
            Orientation::Transpose
                | Orientation::Rotate90
                | Orientation::Transverse
                | Orientation::Rotate270
        )
    }
}

const ORIENTATION_TAG: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;

/// Reads the orientation from an EXIF block (with or without the `Exif\0\0` prefix).
/// Missing, malformed or out-of-range values give `Normal`.
pub fn orientation(exif: Option<&[u8]>) -> Orientation {
    exif.and_then(read_orientation)
        .map_or(Orientation::Normal, Orientation::from_value)
}

fn read_orientation(exif: &[u8]) -> Option<u16> {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    let little = match slice(tiff, 0, 4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let ifd = usize::try_from(u32_endian(tiff, 4, little)?).ok()?;
    let count = usize::from(u16_endian(tiff, ifd, little)?);
    for i in 0..count {
        let entry = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        if u16_endian(tiff, entry, little)? != ORIENTATION_TAG {
            continue;
        }
        if u16_endian(tiff, entry.checked_add(2)?, little)? != TYPE_SHORT {
            return None; // e.g. an ASCII string: invalid, counts as 1
        }
        return u16_endian(tiff, entry.checked_add(8)?, little);
    }
    None
}

/// Returns the image as it should be displayed.
pub fn apply(p: Pixels, o: Orientation) -> Result<Pixels, Rejection> {
    if o == Orientation::Normal {
        return Ok(p);
    }
    let (w, h) = (p.width as usize, p.height as usize);
    let (ow, oh) = if o.swaps_axes() {
        (p.height, p.width)
    } else {
        (p.width, p.height)
    };
    let ch = p.layout.channels();
    let mut out = vec![0u8; buffer_len(ow, oh, p.layout)?];
    let last_x = w.saturating_sub(1);
    let last_y = h.saturating_sub(1);
    for (i, dst) in out.chunks_exact_mut(ch).enumerate() {
        let row = (ow as usize).max(1);
        let (ox, oy) = (
            i.checked_rem(row).unwrap_or(0),
            i.checked_div(row).unwrap_or(0),
        );
        let (sx, sy) = match o {
            Orientation::Normal => (ox, oy),
            Orientation::FlipH => (last_x.saturating_sub(ox), oy),
            Orientation::Rotate180 => (last_x.saturating_sub(ox), last_y.saturating_sub(oy)),
            Orientation::FlipV => (ox, last_y.saturating_sub(oy)),
            Orientation::Transpose => (oy, ox),
            Orientation::Rotate90 => (oy, last_y.saturating_sub(ox)),
            Orientation::Transverse => (last_x.saturating_sub(oy), last_y.saturating_sub(ox)),
            Orientation::Rotate270 => (last_x.saturating_sub(oy), ox),
        };
        let at = sy.saturating_mul(w).saturating_add(sx).saturating_mul(ch);
        let src = p
            .data
            .get(at..at.saturating_add(ch))
            .ok_or_else(|| Rejection::internal("orientation index"))?;
        dst.copy_from_slice(src);
    }
    Pixels::new(ow, oh, p.layout, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::pixels::Layout;

    fn exif_with(little: bool, typ: u16, value: u16) -> Vec<u8> {
        let mut v = b"Exif\0\0".to_vec();
        type Enc = (fn(u16) -> [u8; 2], fn(u32) -> [u8; 4]);
        let (h16, h32): Enc = if little {
            (u16::to_le_bytes, u32::to_le_bytes)
        } else {
            (u16::to_be_bytes, u32::to_be_bytes)
        };
        v.extend_from_slice(if little { b"II*\0" } else { b"MM\0*" });
        v.extend_from_slice(&h32(8));
        v.extend_from_slice(&h16(1));
        v.extend_from_slice(&h16(ORIENTATION_TAG));
        v.extend_from_slice(&h16(typ));
        v.extend_from_slice(&h32(1));
        v.extend_from_slice(&h16(value));
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        v
    }

    #[test]
    fn reads_both_byte_orders_and_rejects_bad_values() {
        assert_eq!(
            orientation(Some(&exif_with(true, 3, 6))),
            Orientation::Rotate90
        );
        assert_eq!(
            orientation(Some(&exif_with(false, 3, 8))),
            Orientation::Rotate270
        );
        assert_eq!(
            orientation(Some(&exif_with(false, 3, 9))),
            Orientation::Normal
        );
        assert_eq!(
            orientation(Some(&exif_with(true, 2, 6))),
            Orientation::Normal
        );
        assert_eq!(
            orientation(Some(b"Exif\0\0II*\0\xff\xff\xff\xff")),
            Orientation::Normal
        );
        assert_eq!(orientation(None), Orientation::Normal);
    }

    #[test]
    fn all_eight_orientations_move_the_corner_right() {
        // 3x2 gray image with distinct values: 0 1 2 / 3 4 5
        let p = Pixels::new(3, 2, Layout::Gray, vec![0, 1, 2, 3, 4, 5]).unwrap();
        let expect: [(u16, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (v, (w, h), data) in expect {
            let out = apply(p.clone(), Orientation::from_value(v)).unwrap();
            assert_eq!((out.width, out.height), (w, h), "orientation {v}");
            assert_eq!(out.data, data, "orientation {v}");
        }
    }
}
