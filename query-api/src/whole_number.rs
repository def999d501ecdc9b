//! Whole numbers in JSON bodies as JSON Schema reads them: its `integer` admits `5.0`, serde's
//! unsigned integers do not. These deserializers accept any JSON number without a fractional
//! part (a client's `5.0` is the documented 5); anything else is refused as before.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

fn read<'de, D: Deserializer<'de>, T: TryFrom<u64>>(n: serde_json::Number) -> Result<T, D::Error> {
    let whole = n.as_u64().or_else(|| {
        n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 18_446_744_073_709_551_616.0).map(|f| f as u64)
    });
    let v = whole.ok_or_else(|| D::Error::custom(format!("expected a whole number, got {n}")))?;
    T::try_from(v).map_err(|_| D::Error::custom(format!("{v} is out of range")))
}

/// A whole number.
pub fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    read::<D, T>(serde_json::Number::deserialize(d)?)
}

/// An optional whole number (`null` or absent: `None`; use with `#[serde(default)]`).
pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?.map(read::<D, T>).transpose()
}

/// A whole number that may be `null` (`Some(None)`), for patches where `null` resets and an
/// absent field (`None`, with `#[serde(default)]`) keeps.
pub fn nullable<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    optional(d).map(Some)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::whole")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional")]
        o: Option<u64>,
        #[serde(default, deserialize_with = "super::nullable")]
        p: Option<Option<u32>>,
    }

    #[test]
    fn integral_floats_are_whole_numbers_and_fractions_are_not() {
        let b: Body = serde_json::from_str(r#"{"n": 5.0, "o": 7, "p": null}"#).expect("valid");
        assert_eq!((b.n, b.o, b.p), (5, Some(7), Some(None)));
        let b: Body = serde_json::from_str(r#"{"n": 1}"#).expect("valid");
        assert_eq!((b.o, b.p), (None, None));
        for bad in [r#"{"n": 5.5}"#, r#"{"n": -1}"#, r#"{"n": 5000000000}"#, r#"{"n": "5"}"#] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }
}
