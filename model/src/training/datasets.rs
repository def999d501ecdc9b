//! The labelled data in `../shared/data`, read into one shape: text, source, and either an
//! emotion or a sentiment label (soft targets where a row carries several labels).
//!
//! Every source is split deterministically into train (80 %) and held-out (20 %) parts by a
//! hash of the text, so the split is the same on every machine and run; GoEmotions keeps its
//! own train/dev split (dev is the held-out part).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Which head a row trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// 7 classes: anger, disgust, fear, joy, neutral, sadness, surprise.
    Emotion,
    /// 3 classes: negative, neutral, positive.
    Sentiment,
}

/// Train or held-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Holdout,
}

/// One labelled text.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub source: &'static str,
    pub task: Task,
    /// Gold class ids (several for multi-label GoEmotions rows).
    pub labels: Vec<usize>,
    pub split: Split,
}

/// Why data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io { path: path.to_owned(), source })
}

/// Latin-1 bytes to a string (every byte is the code point of the same value).
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// 80/20 split by a hash of the text.
pub fn split_of(text: &str) -> Split {
    let h = Sha256::digest(text.as_bytes());
    if h[0] % 5 == 0 { Split::Holdout } else { Split::Train }
}

/// GoEmotions TSV (`text \t ids \t comment id`). `map` turns a file label id into a class id
/// (`None` drops the label).
fn goemotions(
    path: &Path,
    source: &'static str,
    task: Task,
    split: Split,
    map: impl Fn(usize) -> Option<usize>,
) -> Result<Vec<Example>, DataError> {
    let text = String::from_utf8(read_bytes(path)?)
        .map_err(|e| DataError::Format { path: path.to_owned(), message: e.to_string() })?;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut cols = line.split('\t');
        let (Some(t), Some(ids)) = (cols.next(), cols.next()) else { continue };
        let mut labels: Vec<usize> = ids.split(',').filter_map(|i| i.trim().parse().ok()).filter_map(&map).collect();
        labels.dedup();
        if !labels.is_empty() {
            out.push(Example { text: t.to_owned(), source, task, labels, split });
        }
    }
    Ok(out)
}

/// Sentiment class ids.
pub const NEGATIVE: usize = 0;
pub const NEUTRAL: usize = 1;
pub const POSITIVE: usize = 2;

fn sentiment_rows(rows: Vec<(String, Option<usize>)>, source: &'static str) -> Vec<Example> {
    rows.into_iter()
        .filter_map(|(text, label)| {
            let label = label?;
            let text = text.trim().to_owned();
            (!text.is_empty()).then(|| Example {
                split: split_of(&text),
                text,
                source,
                task: Task::Sentiment,
                labels: vec![label],
            })
        })
        .collect()
}

fn csv_rows(path: &Path, text_col: &str, label_col: &str) -> Result<Vec<(String, String)>, DataError> {
    csv_columns(path, &latin1(&read_bytes(path)?), [text_col, label_col])
        .map(|rows| rows.into_iter().map(|[t, l]| (t, l)).collect())
}

/// The named columns of every record of the CSV `content` (read from `path`).
fn csv_columns<const N: usize>(path: &Path, content: &str, names: [&str; N]) -> Result<Vec<[String; N]>, DataError> {
    let mut reader = csv::Reader::from_reader(content.as_bytes());
    let fmt = |e: csv::Error| DataError::Format { path: path.to_owned(), message: e.to_string() };
    let headers = reader.headers().map_err(fmt)?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::Format { path: path.to_owned(), message: format!("column {name} missing") })
    };
    let mut at = [0usize; N];
    for (slot, name) in at.iter_mut().zip(names) {
        *slot = col(name)?;
    }
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(fmt)?;
        out.push(at.map(|i| rec.get(i).unwrap_or("").to_owned()));
    }
    Ok(out)
}

/// Sentiment rows of a set with its own fixed split (`train`, `dev`, `test`): `test` rows are
/// held out, `train` rows train (capped per class, chosen by a hash of the text so the choice
/// is the same everywhere), `dev` rows are left alone.
struct FixedSplitRows {
    source: &'static str,
    held: Vec<Example>,
    train: [Vec<([u8; 32], String)>; 3],
}

impl FixedSplitRows {
    fn new(source: &'static str) -> Self {
        Self { source, held: Vec::new(), train: Default::default() }
    }

    /// Adds a row of `split`; a `train` row is kept only when `trains`.
    fn add(&mut self, text: String, label: usize, split: &str, trains: bool) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        match split {
            "test" => self.held.push(Example {
                text,
                source: self.source,
                task: Task::Sentiment,
                labels: vec![label],
                split: Split::Holdout,
            }),
            "train" if trains => self.train[label].push((Sha256::digest(text.as_bytes()).into(), text)),
            _ => {}
        }
    }

    /// The held-out rows and at most `cap` training rows per class.
    fn finish(self, cap: usize) -> Vec<Example> {
        let (source, mut out) = (self.source, self.held);
        for (label, mut class) in self.train.into_iter().enumerate() {
            class.sort_unstable();
            out.extend(class.into_iter().take(cap).map(|(_, text)| Example {
                labels: vec![label],
                text,
                source,
                task: Task::Sentiment,
                split: Split::Train,
            }));
        }
        out
    }
}

/// The customer-review sets under `customer-reviews/`: folder and source name. Only the
/// clothing set (CC0) may be republished; the others are read at training time and no text of
/// theirs is written into the repository (see [`may_republish`]).
pub const REVIEW_SETS: [(&str, &str); 4] = [
    ("restaurant-app-reviews", "reviews-restaurant-apps"),
    ("pet-insurance-trustpilot", "reviews-pet-insurance"),
    ("womens-ecommerce-clothing", "reviews-clothing"),
    ("amazon-alexa", "reviews-alexa"),
];

/// Most training rows kept per review set and class (the positive classes of three sets are
/// 15–20 k rows of mostly generic praise; the cap bounds training time, the class weights do
/// the balancing).
pub const REVIEW_TRAIN_CAP: usize = 5000;

/// Whether committed samples may carry this source's texts (licence; see
/// `../shared/data/customer-reviews/README.md`).
pub fn may_republish(source: &str) -> bool {
    !matches!(
        source,
        "reviews-restaurant-apps" | "reviews-pet-insurance" | "reviews-alexa" | "intents-banking77" | "intents-bitext"
    )
}

/// Sentiment from a customer's own 1–5 stars: 1–2 negative, 4–5 positive, 3 neutral.
pub fn rating_sentiment(stars: u8) -> Option<usize> {
    match stars {
        1 | 2 => Some(NEGATIVE),
        3 => Some(NEUTRAL),
        4 | 5 => Some(POSITIVE),
        _ => None,
    }
}

/// What training does with three-star reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreeStars {
    /// Not trained on (the default: mostly mixed opinions or mild complaints, not neutral
    /// statements); held out as neutral.
    #[default]
    Skip,
    /// Trained on as neutral (measured against `skip` in docs/models.md).
    Neutral,
}

/// One customer-review set (`reviews.csv`: `text`, `rating`, `split`). The set's own fixed
/// split decides: `train` rows train, `test` rows are held out, `dev` rows are left alone.
/// Three-star reviews are mostly mixed opinions or mild complaints, not neutral statements:
/// they are **not trained on** (the negative/positive boundary learns from 1–2 vs 4–5 stars,
/// neutral from the other sources) but stay in the held-out part as `neutral`, so the 3-way
/// figures count them. Training rows are capped per class at [`REVIEW_TRAIN_CAP`], chosen by
/// a hash of the text.
pub fn customer_reviews(path: &Path, source: &'static str, three_stars: ThreeStars) -> Result<Vec<Example>, DataError> {
    let content = String::from_utf8(read_bytes(path)?)
        .map_err(|e| DataError::Format { path: path.to_owned(), message: e.to_string() })?;
    let mut rows = FixedSplitRows::new(source);
    for [text, rating, split] in csv_columns(path, &content, ["text", "rating", "split"])? {
        let Some(label) = rating.trim().parse::<u8>().ok().and_then(rating_sentiment) else { continue };
        rows.add(text, label, &split, label != NEUTRAL || three_stars == ThreeStars::Neutral);
    }
    Ok(rows.finish(REVIEW_TRAIN_CAP))
}

/// An intent → sentiment map (`None`: the intent's messages go either way; not used).
pub type IntentMap = fn(&str) -> Option<usize>;

/// The customer-support intent sets under `topic-intents/` read as **weak sentiment labels**:
/// folder, source name, and the intent → sentiment map. Neither is a sentiment data set: their
/// intents say what a message asks for, and that decides its polarity for most intents — a
/// plain request or question ("how do I activate my card?") is neutral, a report that
/// something failed or was charged wrongly ("my transfer still hasn't arrived") is a
/// complaint. Intents whose messages go either way (a lost card, a refund request, a review)
/// are left out. These are the shapes general-purpose sentiment misreads in feedback written
/// to a company (see the challenge set), and the review sets have no neutral class of their
/// own. Neither set's texts are written into the repository (no samples, no replay).
pub const INTENT_SETS: [(&str, &str, IntentMap); 2] = [
    ("banking77", "intents-banking77", banking77_sentiment),
    ("bitext-customer-service", "intents-bitext", bitext_sentiment),
];

/// Most training rows kept per intent set and class, chosen by a hash of the text (Bitext's
/// synthetic requests repeat a few templates thousands of times).
pub const INTENT_TRAIN_CAP: usize = 4000;

/// Banking77 intent → sentiment (PolyAI's human-assigned intents; the map is rtcx's).
pub fn banking77_sentiment(intent: &str) -> Option<usize> {
    match intent {
        // Something went wrong: failed, declined, missing, pending, charged, not recognised.
        "card_arrival"
        | "card_not_working"
        | "card_swallowed"
        | "contactless_not_working"
        | "virtual_card_not_working"
        | "pin_blocked"
        | "declined_card_payment"
        | "declined_cash_withdrawal"
        | "declined_transfer"
        | "failed_transfer"
        | "top_up_failed"
        | "top_up_reverted"
        | "reverted_card_payment?"
        | "transaction_charged_twice"
        | "wrong_amount_of_cash_received"
        | "card_payment_wrong_exchange_rate"
        | "wrong_exchange_rate_for_cash_withdrawal"
        | "extra_charge_on_statement"
        | "card_payment_fee_charged"
        | "cash_withdrawal_charge"
        | "transfer_fee_charged"
        | "transfer_not_received_by_recipient"
        | "balance_not_updated_after_bank_transfer"
        | "balance_not_updated_after_cheque_or_cash_deposit"
        | "Refund_not_showing_up"
        | "card_payment_not_recognised"
        | "cash_withdrawal_not_recognised"
        | "direct_debit_payment_not_recognised"
        | "compromised_card"
        | "unable_to_verify_identity"
        | "beneficiary_not_allowed"
        | "pending_transfer"
        | "pending_top_up"
        | "pending_card_payment"
        | "pending_cash_withdrawal" => Some(NEGATIVE),
        // Requests and questions about how things work.
        "activate_my_card"
        | "age_limit"
        | "apple_pay_or_google_pay"
        | "atm_support"
        | "automatic_top_up"
        | "card_about_to_expire"
        | "card_acceptance"
        | "card_delivery_estimate"
        | "card_linking"
        | "change_pin"
        | "country_support"
        | "disposable_card_limits"
        | "edit_personal_details"
        | "exchange_charge"
        | "exchange_rate"
        | "exchange_via_app"
        | "fiat_currency_support"
        | "get_disposable_virtual_card"
        | "get_physical_card"
        | "getting_spare_card"
        | "getting_virtual_card"
        | "order_physical_card"
        | "receiving_money"
        | "supported_cards_and_currencies"
        | "top_up_by_bank_transfer_charge"
        | "top_up_by_card_charge"
        | "top_up_by_cash_or_cheque"
        | "top_up_limits"
        | "topping_up_by_card"
        | "transfer_into_account"
        | "transfer_timing"
        | "verify_my_identity"
        | "verify_source_of_funds"
        | "verify_top_up"
        | "visa_or_mastercard"
        | "why_verify_identity"
        | "cancel_transfer" => Some(NEUTRAL),
        // Either way (lost or stolen card or phone, forgotten passcode, closing the account,
        // asking for a refund): not used.
        _ => None,
    }
}

/// Bitext intent → sentiment: its generated requests are neutral, except `complaint` ("how can
/// I file a complaint against your company?"); `review` (praise or criticism),
/// `payment_issue`, `registration_problems` and `contact_human_agent` (often exasperated) are
/// not used.
pub fn bitext_sentiment(intent: &str) -> Option<usize> {
    match intent {
        "complaint" => Some(NEGATIVE),
        "review" | "payment_issue" | "registration_problems" | "contact_human_agent" => None,
        _ => Some(NEUTRAL),
    }
}

/// One intent set (`data.csv`: `text`, `intent`, `split`, and for Bitext `tags`) as weak
/// sentiment labels through `map`. The set's own fixed split decides (`train` trains, `test`
/// is held out, `dev` is left alone); rows tagged offensive (Bitext's `W`) are skipped;
/// training rows are capped per class at [`INTENT_TRAIN_CAP`] by a hash of the text.
pub fn support_intents(path: &Path, source: &'static str, map: IntentMap) -> Result<Vec<Example>, DataError> {
    let content = String::from_utf8(read_bytes(path)?)
        .map_err(|e| DataError::Format { path: path.to_owned(), message: e.to_string() })?;
    let has_tags = content.lines().next().is_some_and(|h| h.split(',').any(|c| c == "tags"));
    let rows: Vec<[String; 4]> = if has_tags {
        csv_columns(path, &content, ["text", "intent", "split", "tags"])?
    } else {
        csv_columns(path, &content, ["text", "intent", "split"])?
            .into_iter()
            .map(|[t, i, s]| [t, i, s, String::new()])
            .collect()
    };
    let mut out = FixedSplitRows::new(source);
    for [text, intent, split, tags] in rows {
        let Some(label) = map(intent.trim()) else { continue };
        if !tags.contains('W') {
            out.add(text, label, &split, true);
        }
    }
    Ok(out.finish(INTENT_TRAIN_CAP))
}

/// Which optional data `load_all` reads, and how.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LoadOptions {
    /// What to do with three-star reviews.
    pub three_stars: ThreeStars,
    /// Also read the support-intent sets as weak sentiment labels ([`INTENT_SETS`]; measured
    /// in docs/models.md, not part of the shipped model's data).
    pub intents: bool,
}

/// Every labelled example under `data_dir` (the `../shared/data` folder).
pub fn load_all(data_dir: &Path, options: LoadOptions) -> Result<Vec<Example>, DataError> {
    let mut all = Vec::new();
    let ge = data_dir.join("goemotions");
    // Emotion: GoEmotions' Ekman labels, already in rtcx's class order.
    for (file, split) in [("train.tsv", Split::Train), ("dev.tsv", Split::Holdout)] {
        all.extend(goemotions(&ge.join("ekman").join(file), "goemotions", Task::Emotion, split, |i| {
            (i < 7).then_some(i)
        })?);
    }
    // Sentiment from GoEmotions' groups: 0 ambiguous (dropped), 1 negative, 2 neutral, 3 positive.
    for (file, split) in [("train.tsv", Split::Train), ("dev.tsv", Split::Holdout)] {
        let rows = goemotions(&ge.join("group").join(file), "goemotions-group", Task::Sentiment, split, |i| match i {
            1 => Some(NEGATIVE),
            2 => Some(NEUTRAL),
            3 => Some(POSITIVE),
            _ => None,
        })?;
        // Rows with both a negative and a positive group are ambiguous too.
        all.extend(rows.into_iter().filter(|e| e.labels.len() == 1));
    }
    let bt = data_dir.join("brand-tweets");
    let sxsw = csv_rows(
        &bt.join("sxsw-product-tweets.csv"),
        "tweet_text",
        "is_there_an_emotion_directed_at_a_brand_or_product",
    )?;
    all.extend(sentiment_rows(
        sxsw.into_iter()
            .map(|(t, l)| {
                let label = match l.as_str() {
                    "Positive emotion" => Some(POSITIVE),
                    "Negative emotion" => Some(NEGATIVE),
                    "No emotion toward brand or product" => Some(NEUTRAL),
                    _ => None,
                };
                (t, label)
            })
            .collect(),
        "sxsw-tweets",
    ));
    let apple = csv_rows(&bt.join("apple-tweets.csv"), "text", "sentiment")?;
    all.extend(sentiment_rows(
        apple
            .into_iter()
            .map(|(t, l)| {
                let label = match l.trim() {
                    "1" => Some(NEGATIVE),
                    "3" => Some(NEUTRAL),
                    "5" => Some(POSITIVE),
                    _ => None,
                };
                (t, label)
            })
            .collect(),
        "apple-tweets",
    ));
    let te = data_dir.join("tweeteval-sentiment");
    let mut tweeteval = Vec::new();
    for part in ["val", "test"] {
        let texts = String::from_utf8_lossy(&read_bytes(&te.join(format!("{part}_text.txt")))?).into_owned();
        let labels = String::from_utf8_lossy(&read_bytes(&te.join(format!("{part}_labels.txt")))?).into_owned();
        for (t, l) in texts.lines().zip(labels.lines()) {
            // 0 negative, 1 neutral, 2 positive: the same ids as rtcx's.
            tweeteval.push((t.to_owned(), l.trim().parse::<usize>().ok().filter(|l| *l < 3)));
        }
    }
    all.extend(sentiment_rows(tweeteval, "tweeteval"));
    let rt = data_dir.join("rt-polarity");
    let mut polarity = Vec::new();
    for (file, label) in [("rt-polarity.pos", POSITIVE), ("rt-polarity.neg", NEGATIVE)] {
        for line in latin1(&read_bytes(&rt.join(file))?).lines() {
            polarity.push((line.to_owned(), Some(label)));
        }
    }
    all.extend(sentiment_rows(polarity, "rt-polarity"));
    for (folder, source) in REVIEW_SETS {
        all.extend(customer_reviews(
            &data_dir.join("customer-reviews").join(folder).join("reviews.csv"),
            source,
            options.three_stars,
        )?);
    }
    for (folder, source, map) in INTENT_SETS.iter().filter(|_| options.intents) {
        all.extend(support_intents(&data_dir.join("topic-intents").join(folder).join("data.csv"), source, *map)?);
    }
    Ok(all)
}

/// Keeps at most `cap` training rows per task, source and (first) class, chosen by a hash of
/// the text; held-out rows are all kept. For quick experiments whose figures stay comparable
/// (the same held-out parts, the same mix of sources).
pub fn cap_training(examples: Vec<Example>, cap: usize) -> Vec<Example> {
    use std::collections::HashMap;
    // Training rows by (task is sentiment, source, class): their text hashes and positions.
    type Group = (bool, &'static str, usize);
    let mut groups: HashMap<Group, Vec<([u8; 32], usize)>> = HashMap::new();
    for (i, e) in examples.iter().enumerate().filter(|(_, e)| e.split == Split::Train) {
        let key = (e.task == Task::Sentiment, e.source, e.labels.first().copied().unwrap_or(0));
        groups.entry(key).or_default().push((Sha256::digest(e.text.as_bytes()).into(), i));
    }
    let mut keep = vec![false; examples.len()];
    for rows in groups.values_mut() {
        rows.sort_unstable();
        for &(_, i) in rows.iter().take(cap) {
            keep[i] = true;
        }
    }
    examples.into_iter().zip(keep).filter(|(e, k)| *k || e.split == Split::Holdout).map(|(e, _)| e).collect()
}

/// The hand-written challenge set (`model/tests/data/challenge.tsv`: a header, then
/// `sentiment \t emotion \t domain \t shape \t text`, labels by name): customer messages in
/// the shapes general-purpose sentiment misreads (matter-of-fact failure reports, questions
/// that carry a complaint, dry irony) and neutral and positive ones across many domains.
/// **Never trained on**: only evaluated. Returns one sentiment and one emotion example per
/// row, source `challenge`, held out.
pub fn challenge_set(path: &Path, emotions: &[&str]) -> Result<Vec<Example>, DataError> {
    let content = String::from_utf8(read_bytes(path)?)
        .map_err(|e| DataError::Format { path: path.to_owned(), message: e.to_string() })?;
    let bad = |line: usize, message: String| DataError::Format {
        path: path.to_owned(),
        message: format!("line {line}: {message}"),
    };
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [sentiment, emotion, _domain, _shape, text] = cols[..] else {
            return Err(bad(i + 1, format!("{} columns, want 5", cols.len())));
        };
        let sentiment = ["negative", "neutral", "positive"]
            .iter()
            .position(|l| *l == sentiment)
            .ok_or_else(|| bad(i + 1, format!("unknown sentiment {sentiment:?}")))?;
        let emotion = emotions
            .iter()
            .position(|l| *l == emotion)
            .ok_or_else(|| bad(i + 1, format!("unknown emotion {emotion:?}")))?;
        for (task, label) in [(Task::Sentiment, sentiment), (Task::Emotion, emotion)] {
            out.push(Example {
                text: text.to_owned(),
                source: "challenge",
                task,
                labels: vec![label],
                split: Split::Holdout,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, source: &'static str, label: usize, split: Split) -> Example {
        Example { text: text.to_owned(), source, task: Task::Sentiment, labels: vec![label], split }
    }

    #[test]
    fn cap_training_caps_each_source_and_class_and_keeps_every_held_out_row() {
        let mut rows = Vec::new();
        for i in 0..10 {
            rows.push(example(&format!("a{i}"), "one", NEGATIVE, Split::Train));
            rows.push(example(&format!("b{i}"), "one", POSITIVE, Split::Train));
            rows.push(example(&format!("c{i}"), "two", NEGATIVE, Split::Train));
            rows.push(example(&format!("d{i}"), "one", NEGATIVE, Split::Holdout));
        }
        let capped = cap_training(rows.clone(), 3);
        let count = |source: &str, label: usize, split: Split| {
            capped.iter().filter(|e| e.source == source && e.labels == [label] && e.split == split).count()
        };
        assert_eq!(count("one", NEGATIVE, Split::Train), 3);
        assert_eq!(count("one", POSITIVE, Split::Train), 3);
        assert_eq!(count("two", NEGATIVE, Split::Train), 3);
        assert_eq!(count("one", NEGATIVE, Split::Holdout), 10);
        // The same rows every time, whatever the input order.
        rows.reverse();
        let mut again: Vec<String> = cap_training(rows, 3).into_iter().map(|e| e.text).collect();
        let mut first: Vec<String> = capped.into_iter().map(|e| e.text).collect();
        again.sort();
        first.sort();
        assert_eq!(first, again);
    }

    #[test]
    fn intents_map_problem_reports_to_negative_and_requests_to_neutral() {
        assert_eq!(banking77_sentiment("declined_transfer"), Some(NEGATIVE));
        assert_eq!(banking77_sentiment("card_arrival"), Some(NEGATIVE));
        assert_eq!(banking77_sentiment("activate_my_card"), Some(NEUTRAL));
        assert_eq!(banking77_sentiment("lost_or_stolen_card"), None);
        assert_eq!(bitext_sentiment("complaint"), Some(NEGATIVE));
        assert_eq!(bitext_sentiment("track_order"), Some(NEUTRAL));
        assert_eq!(bitext_sentiment("review"), None);
        // No intent is ever read as praise.
        for intent in ["complaint", "review", "get_refund", "card_arrival", "exchange_rate"] {
            assert_ne!(banking77_sentiment(intent), Some(POSITIVE));
            assert_ne!(bitext_sentiment(intent), Some(POSITIVE));
        }
    }
}
