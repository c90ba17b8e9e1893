//! The one pixel representation that travels from decode to encode: 8-bit, interleaved,
//! with the channel layout the source had (gray stays gray, alpha stays alpha).

use super::error::Rejection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
}

impl Layout {
    pub const fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::GrayAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
    pub const fn has_alpha(self) -> bool {
        matches!(self, Layout::GrayAlpha | Layout::Rgba)
    }
    pub const fn is_gray(self) -> bool {
        matches!(self, Layout::Gray | Layout::GrayAlpha)
    }
    /// The gray layout with the same alpha.
    pub const fn without_colour(self) -> Layout {
        if self.has_alpha() {
            Layout::GrayAlpha
        } else {
            Layout::Gray
        }
    }
}

/// An image in memory. `data.len() == width * height * layout.channels()` always holds:
/// [`Pixels::new`] checks it, and every stage that builds one goes through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Result<Self, Rejection> {
        let want = buffer_len(width, height, layout)?;
        if data.len() != want {
            return Err(Rejection::internal(format!(
                "pixel buffer of {} bytes for {width}x{height} {layout:?} (want {want})",
                data.len()
            )));
        }
        Ok(Pixels {
            width,
            height,
            layout,
            data,
        })
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        (self.width as usize).saturating_mul(self.layout.channels())
    }
}

/// `width * height * channels` with overflow checked.
pub fn buffer_len(width: u32, height: u32, layout: Layout) -> Result<usize, Rejection> {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(layout.channels()))
        .ok_or_else(|| Rejection::internal("pixel buffer size overflows"))
}
