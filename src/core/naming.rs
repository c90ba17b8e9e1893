//! Names and keys: which operation a name asks for, and the safe output key for an input key.

use super::error::{Reason, Rejection};

/// What to do with an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Fit inside 1024×1024.
    Fit,
    /// Fit inside 200×200.
    Thumb,
    /// Grayscale at the oriented size.
    Grayscale,
}

impl Op {
    pub const FIT_BOX: u32 = 1024;
    pub const THUMB_BOX: u32 = 200;

    pub const fn name(self) -> &'static str {
        match self {
            Op::Fit => "fit",
            Op::Thumb => "thumb",
            Op::Grayscale => "grayscale",
        }
    }
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "fit" => Some(Op::Fit),
            "thumb" => Some(Op::Thumb),
            "grayscale" => Some(Op::Grayscale),
            _ => None,
        }
    }
    /// The bounding box side, or `None` for an op that keeps the size.
    pub const fn fit_box(self) -> Option<u32> {
        match self {
            Op::Fit => Some(Op::FIT_BOX),
            Op::Thumb => Some(Op::THUMB_BOX),
            Op::Grayscale => None,
        }
    }
}

/// The operation a file name or key asks for, from the stem (the last path segment without
/// its last extension): `_thumb` → thumb, `_grayscale` → grayscale, anything else → fit.
pub fn op_for_name(name: &str) -> Op {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = match base.rfind('.') {
        Some(i) if i > 0 => base.get(..i).unwrap_or(base),
        _ => base,
    };
    if stem.ends_with("_thumb") {
        Op::Thumb
    } else if stem.ends_with("_grayscale") {
        Op::Grayscale
    } else {
        Op::Fit
    }
}

/// S3's own limit on key length, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

fn invalid(msg: impl Into<String>) -> Rejection {
    Rejection::new(Reason::InvalidKey, msg)
}

/// Checks that a decoded key is something we are willing to derive an output name from: not
/// empty, at most 1024 bytes, no control characters, no `.`/`..` segments, no empty segments
/// and no leading slash or backslash (so the output cannot land outside its prefix, on S3 or
/// on a filesystem).
pub fn validate_key(key: &str) -> Result<(), Rejection> {
    if key.is_empty() {
        return Err(invalid("empty key"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(format!(
            "key is {} bytes, more than {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("key contains control characters"));
    }
    if key.contains('\\') {
        return Err(invalid("key contains a backslash"));
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(invalid("key has an empty, '.' or '..' path segment"));
    }
    Ok(())
}

/// Maps `uploads/a/b.jpg` to `processed/a/b.jpg`. The key must be valid, start with the input
/// prefix and name something below it; the result is checked again (belt and braces) and is
/// always under the output prefix.
pub fn output_key(key: &str, input_prefix: &str, output_prefix: &str) -> Result<String, Rejection> {
    validate_key(key)?;
    let rest = key
        .strip_prefix(input_prefix)
        .ok_or_else(|| invalid(format!("key is not under '{input_prefix}'")))?;
    if rest.is_empty() {
        return Err(invalid("key names the input prefix itself"));
    }
    let out = format!("{output_prefix}{rest}");
    validate_key(&out)?;
    if !out.starts_with(output_prefix)
        || out.starts_with(input_prefix)
            && !input_prefix.is_empty()
            && output_prefix.starts_with(input_prefix)
    {
        return Err(invalid("output key would fall back under the input prefix"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_from_the_stem() {
        assert_eq!(op_for_name("cat.jpg"), Op::Fit);
        assert_eq!(op_for_name("cat_thumb.jpg"), Op::Thumb);
        assert_eq!(op_for_name("dir/cat_grayscale.png"), Op::Grayscale);
        assert_eq!(op_for_name("cat_thumb"), Op::Thumb);
        assert_eq!(op_for_name("cat_thumb.jpg.png"), Op::Fit);
        assert_eq!(op_for_name("uploads/x_thumb/cat.jpg"), Op::Fit);
        assert_eq!(op_for_name("_thumb.jpg"), Op::Thumb);
    }

    #[test]
    fn output_keys() {
        assert_eq!(
            output_key("uploads/a b/c.jpg", "uploads/", "processed/").unwrap(),
            "processed/a b/c.jpg"
        );
        for bad in [
            "uploads/../x.jpg",
            "uploads/a/../../x",
            "uploads/",
            "other/x.jpg",
            "uploads//x.jpg",
            "uploads/a\u{0}.jpg",
            "uploads/./x",
        ] {
            assert_eq!(
                output_key(bad, "uploads/", "processed/")
                    .unwrap_err()
                    .reason,
                Reason::InvalidKey,
                "{bad:?}"
            );
        }
        let long = format!("uploads/{}", "a".repeat(1020));
        assert!(output_key(&long, "uploads/", "processed/").is_err());
    }
}
