use super::InvalidValue;
use serde::{Deserialize, Serialize};

/// A phone number in E.164 form (`+14155550123`), so that one number typed three
/// ways is one contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Parses an international number (a leading `+` and country code is required:
    /// without a region there is no way to read a national number).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_in(raw, None)
    }

    /// Parses a number that may be written nationally, read as a number of
    /// `default_country` (an ISO 3166 code such as `DE`) when it has no `+` prefix.
    pub fn parse_in(raw: &str, default_country: Option<&str>) -> Result<Self, InvalidValue> {
        let invalid = || {
            InvalidValue(format!(
                "'{}' is not a valid international phone number",
                raw.trim()
            ))
        };
        let region = default_country.and_then(|c| c.trim().to_uppercase().parse().ok());
        let number = phonenumber::parse(region, raw.trim()).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A country phone numbers are read in when they have no `+` prefix: an ISO 3166
/// alpha-2 code the numbering plan knows (`DE`, `US`), upper-cased.
pub fn country_code(raw: &str) -> Result<String, InvalidValue> {
    let code = raw.trim().to_uppercase();
    code.parse::<phonenumber::country::Id>()
        .map(|_| code.clone())
        .map_err(|_| {
            InvalidValue(format!(
                "'{}' is not a two-letter country code such as DE",
                raw.trim()
            ))
        })
}

impl TryFrom<String> for PhoneE164 {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneE164> for String {
    fn from(value: PhoneE164) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_written_three_ways_is_one_e164_number() {
        for raw in ["+1 415 555 0132", "+1 (415) 555-0132", "+14155550132"] {
            assert_eq!(PhoneE164::parse(raw).unwrap().as_str(), "+14155550132");
        }
    }

    #[test]
    fn numbers_without_country_code_or_impossible_numbers_are_refused() {
        assert!(PhoneE164::parse("4155550132").is_err());
        assert!(PhoneE164::parse("+1 555").is_err());
        assert!(PhoneE164::parse("call me").is_err());
    }

    #[test]
    fn country_codes_are_known_two_letter_codes() {
        assert_eq!(country_code(" de ").unwrap(), "DE");
        assert!(country_code("XX").is_err());
        assert!(country_code("Germany").is_err());
    }

    #[test]
    fn a_national_number_is_read_in_the_default_country() {
        let phone = PhoneE164::parse_in("030 12345678", Some("de")).unwrap();
        assert_eq!(phone.as_str(), "+493012345678");
        // An international number ignores the default.
        let phone = PhoneE164::parse_in("+1 415 555 0132", Some("DE")).unwrap();
        assert_eq!(phone.as_str(), "+14155550132");
        assert!(PhoneE164::parse_in("030 12345678", None).is_err());
    }
}
