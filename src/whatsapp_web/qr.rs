//! QR codes as SVG, drawn on the server: the admin page shows an image that needs no
//! script and nothing from another site.

use qrcode::QrCode;
use qrcode::render::svg;

/// The SVG of a QR code holding `text`, or `None` when it is too long for one.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairing_payload_renders_as_a_standalone_svg_image() {
        let payload = "2@Kx9fZ1a0,AbCdEf0123456789+/=,XyZ0123456789+/=,Qq0123456789+/=";
        let image = svg(payload).unwrap();
        assert!(image.starts_with("<?xml"), "{image}");
        assert!(image.contains("<svg"));
        assert!(!image.contains("<script"));
        assert!(!image.contains("http://") || image.contains("http://www.w3.org/2000/svg"));
    }

    #[test]
    fn text_too_long_for_any_qr_code_is_refused() {
        assert!(svg(&"x".repeat(8_000)).is_none());
    }
}
