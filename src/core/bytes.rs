//! Bounds-checked readers over untrusted bytes. Every read returns `None` past the end, so
//! header parsers cannot index out of bounds or overflow an offset.

/// Bytes `[at, at+len)` or `None`.
pub fn slice(b: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    b.get(at..at.checked_add(len)?)
}

pub fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

pub fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = slice(b, at, 2)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

pub fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = slice(b, at, 2)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

pub fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = slice(b, at, 3)?;
    Some(u32::from_le_bytes([*s.first()?, *s.get(1)?, *s.get(2)?, 0]))
}

pub fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = slice(b, at, 4)?;
    Some(u32::from_be_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
}

pub fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = slice(b, at, 4)?;
    Some(u32::from_le_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
}

/// 16 or 32 bits in the byte order a TIFF header chose.
pub fn u16_endian(b: &[u8], at: usize, little: bool) -> Option<u16> {
    if little {
        le16(b, at)
    } else {
        be16(b, at)
    }
}

pub fn u32_endian(b: &[u8], at: usize, little: bool) -> Option<u32> {
    if little {
        le32(b, at)
    } else {
        be32(b, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let b = [1u8, 2, 3];
        assert_eq!(be16(&b, 1), Some(0x0203));
        assert_eq!(le16(&b, 0), Some(0x0201));
        assert_eq!(be16(&b, 2), None);
        assert_eq!(be32(&b, 0), None);
        assert_eq!(slice(&b, usize::MAX, 2), None);
        assert_eq!(le24(&b, 0), Some(0x030201));
    }
}
