//! How a customer is found across providers: by phone number, compared by its digits alone
//! (`+33 6 12 34 56 78` and `33612345678` are one number), or by address, compared without case.
//! The same keys are written on conversation summaries (`customer_phone`, `customer_email`) and
//! asked for by `GET /customers`, so the two can only agree.

/// The digits of a phone number, its lookup key; `None` when it has none.
pub fn phone_key(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// An address, trimmed and lower-cased, its lookup key; `None` unless it looks like one
/// (something on either side of one `@`).
pub fn email_key(email: &str) -> Option<String> {
    let email = email.trim();
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    Some(email.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_compare_by_their_digits() {
        assert_eq!(
            phone_key("+33 6 12 34 56 78").as_deref(),
            Some("33612345678")
        );
        assert_eq!(phone_key("33612345678").as_deref(), Some("33612345678"));
        assert_eq!(phone_key("(555) 010-0199").as_deref(), Some("5550100199"));
        assert_eq!(phone_key("+"), None);
        assert_eq!(phone_key(""), None);
    }

    #[test]
    fn addresses_compare_without_case() {
        assert_eq!(
            email_key(" Jane.Doe@Example.COM ").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(
            email_key("jane.doe@example.com"),
            email_key("JANE.DOE@EXAMPLE.COM")
        );
        for bad in ["", "jane", "@example.com", "jane@", "a@b@c"] {
            assert_eq!(email_key(bad), None, "{bad:?}");
        }
    }
}
