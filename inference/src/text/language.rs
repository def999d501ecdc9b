//! Language detection (whatlang, trigram-based). Non-English text is still scored by the
//! models but flagged with its language so dashboards can tell.

/// Below this confidence (and when whatlang does not call the result reliable) the hint wins.
const MIN_CONFIDENCE: f64 = 0.5;

/// A BCP 47 language tag for `text`: the detected language when detection is reliable, else
/// the sender's hint, else `und` (undetermined).
pub fn detect(text: &str, hint: Option<&str>) -> String {
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() || info.confidence() >= MIN_CONFIDENCE => bcp47(info.lang()).to_owned(),
        _ => hint.map(str::to_owned).unwrap_or_else(|| "und".to_owned()),
    }
}

/// ISO 639-1 code where one exists, else whatlang's ISO 639-3 code.
fn bcp47(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Eng => "en",
        Spa => "es",
        Fra => "fr",
        Deu => "de",
        Por => "pt",
        Ita => "it",
        Nld => "nl",
        Rus => "ru",
        Ukr => "uk",
        Pol => "pl",
        Tur => "tr",
        Swe => "sv",
        Dan => "da",
        Nob => "nb",
        Fin => "fi",
        Ces => "cs",
        Ron => "ro",
        Hun => "hu",
        Ell => "el",
        Ara => "ar",
        Heb => "he",
        Hin => "hi",
        Jpn => "ja",
        Kor => "ko",
        Cmn => "zh",
        Vie => "vi",
        Tha => "th",
        Ind => "id",
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_common_languages_and_falls_back_to_the_hint() {
        assert_eq!(detect("The delivery was very late and the box was damaged.", None), "en");
        assert_eq!(detect("El paquete llegó tarde y la caja estaba dañada, quiero un reembolso.", None), "es");
        assert_eq!(detect("Der Router funktioniert nicht und der Kundendienst antwortet nicht.", None), "de");
        assert_eq!(detect("ok", Some("fr")), "fr");
        assert_eq!(detect("👍", None), "und");
    }
}
