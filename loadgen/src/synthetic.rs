//! Realistic synthetic customer feedback, for demos, load tests and benchmarks.
//!
//! Varied channels, lengths (one to several sentences), languages, ratings, customers and
//! segments, with a configurable share of negative texts and of duplicates (re-sent with the
//! same idempotency key, as a retrying integration would).

use rand::Rng;
use rand::seq::IndexedRandom as _;
use rtcx_schemas::{Channel, FeedbackSubmission};

const POSITIVE: &[&str] = &[
    "Great service, the {p} arrived a day early and works perfectly.",
    "I love the new {p}, setup took two minutes.",
    "Thanks to the support agent who fixed my {p} issue so quickly!",
    "Really happy with the {p}, worth every penny.",
    "The {p} exceeded my expectations, I already recommended it to friends.",
];
const NEGATIVE: &[&str] = &[
    "My {p} arrived broken and nobody answers my emails.",
    "Third time the {p} delivery is late. I want a refund.",
    "The app crashes every time I open the {p} page. Terrible.",
    "I was charged twice for the {p} and support kept me on hold for an hour.",
    "Cancel my subscription, the {p} never worked.",
    "Oh great, another {p} update that breaks everything. Just wonderful.",
];
const NEUTRAL: &[&str] = &[
    "How do I change the delivery address for my {p} order?",
    "Is the {p} available in blue?",
    "I received the {p} today.",
    "What are your opening hours for {p} returns?",
    "Can I pay for the {p} in instalments?",
];
const FILLER: &[&str] = &[
    "I have been a customer for four years.",
    "My order number is in the ticket.",
    "This is the second time I write about it.",
    "I tried the steps from the help centre.",
    "Please get back to me by email.",
];
const FOREIGN: &[(&str, &str)] = &[
    ("es", "El {p} llegó tarde y la caja estaba dañada."),
    ("de", "Der {p} funktioniert super, danke!"),
    ("fr", "Je n'arrive pas à me connecter à mon {p}."),
    ("pt-BR", "Adorei o {p}, chegou rápido."),
];
const PRODUCTS: &[&str] =
    &["router", "headphones", "subscription", "laptop", "smart watch", "invoice", "parcel", "app"];
const SEGMENTS: &[&str] = &["consumer", "smb", "enterprise"];
const STAGES: &[&str] = &["awareness", "onboarding", "purchase", "delivery", "support", "renewal"];

/// Generator settings.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Share of negative texts, in [0, 1].
    pub negative_share: f64,
    /// Share of events that repeat the previous one (same idempotency key), in [0, 1].
    pub duplicate_share: f64,
    /// Share of non-English texts, in [0, 1].
    pub foreign_share: f64,
    /// Every event on this channel (`None`: all channels evenly), e.g. to inject a complaint
    /// spike on one channel next to the demo traffic.
    pub channel: Option<Channel>,
}

impl Default for Mix {
    fn default() -> Self {
        Self { negative_share: 0.3, duplicate_share: 0.02, foreign_share: 0.05, channel: None }
    }
}

/// Produces submissions; each carries an idempotency key `"{prefix}-{n}"`.
pub struct Generator {
    mix: Mix,
    prefix: String,
    seq: u64,
    last: Option<FeedbackSubmission>,
}

impl Generator {
    /// A generator whose idempotency keys start with `prefix` (make it unique per run).
    pub fn new(mix: Mix, prefix: impl Into<String>) -> Self {
        Self { mix, prefix: prefix.into(), seq: 0, last: None }
    }

    /// The next submission (a duplicate of the previous one with probability `duplicate_share`).
    pub fn next(&mut self, rng: &mut impl Rng) -> FeedbackSubmission {
        if let Some(prev) = &self.last
            && rng.random_bool(self.mix.duplicate_share.clamp(0.0, 1.0))
        {
            return prev.clone();
        }
        self.seq += 1;
        let sub = self.fresh(rng);
        self.last = Some(sub.clone());
        sub
    }

    fn fresh(&self, rng: &mut impl Rng) -> FeedbackSubmission {
        let product = PRODUCTS.choose(rng).copied().unwrap_or("product");
        let p: f64 = rng.random();
        let (mut text, language, rating) = if rng.random_bool(self.mix.foreign_share.clamp(0.0, 1.0)) {
            let (lang, t) = FOREIGN.choose(rng).copied().unwrap_or(("en", "{p}"));
            (t.replace("{p}", product), lang, rng.random_range(1..=5))
        } else if p < self.mix.negative_share {
            (pick(NEGATIVE, rng, product), "en", rng.random_range(1..=2))
        } else if p < self.mix.negative_share + (1.0 - self.mix.negative_share) * 0.6 {
            (pick(POSITIVE, rng, product), "en", rng.random_range(4..=5))
        } else {
            (pick(NEUTRAL, rng, product), "en", 3)
        };
        // Lengths vary: most are one sentence, some are long e-mails.
        for _ in 0..rng.random_range(0..4u32).saturating_sub(1) {
            text.push(' ');
            text.push_str(FILLER.choose(rng).copied().unwrap_or(""));
        }
        let channel = self.mix.channel.unwrap_or_else(|| Channel::ALL[rng.random_range(0..Channel::ALL.len())]);
        FeedbackSubmission {
            channel,
            text,
            occurred_at: None,
            rating: matches!(channel, Channel::Web | Channel::MobileApp).then_some(rating),
            nps: (channel == Channel::Survey).then(|| rng.random_range(0..=10)),
            csat: matches!(channel, Channel::Chat | Channel::CallCenter).then(|| rng.random_range(1..=5)),
            // A large pool, as in real traffic: repeated feedback from one customer (what the churn
            // rule watches) stays rare.
            customer_id: rng.random_bool(0.8).then(|| format!("cust-{}", rng.random_range(0..100_000_000))),
            segment: SEGMENTS.choose(rng).map(|s| (*s).to_owned()),
            journey_stage: STAGES.choose(rng).map(|s| (*s).to_owned()),
            language: Some(language.to_owned()),
            metadata: [(
                "app_version".to_owned(),
                format!("5.{}.{}", rng.random_range(0..10), rng.random_range(0..20)),
            )]
            .into(),
            external_id: None,
            idempotency_key: Some(format!("{}-{}", self.prefix, self.seq)),
        }
    }
}

fn pick(templates: &[&str], rng: &mut impl Rng, product: &str) -> String {
    templates.choose(rng).copied().unwrap_or("{p}").replace("{p}", product)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use rtcx_schemas::validation::validate_submission;

    #[test]
    fn generated_feedback_is_valid_and_varied() {
        let mut rng = rand::rng();
        let mut g = Generator::new(Mix { duplicate_share: 0.1, ..Mix::default() }, "t");
        let subs: Vec<_> = (0..2000).map(|_| g.next(&mut rng)).collect();
        for s in &subs {
            validate_submission(s, Utc::now()).expect("valid");
        }
        let channels: std::collections::HashSet<_> = subs.iter().map(|s| s.channel).collect();
        assert_eq!(channels.len(), 7);
        let keys: std::collections::HashSet<_> = subs.iter().map(|s| s.idempotency_key.clone()).collect();
        let dup_share = 1.0 - keys.len() as f64 / subs.len() as f64;
        assert!((0.05..0.15).contains(&dup_share), "duplicate share {dup_share}");
        assert!(subs.iter().any(|s| s.language.as_deref() != Some("en")));
    }

    #[test]
    fn a_spike_mix_stays_on_its_channel_and_is_mostly_negative() {
        let mut rng = rand::rng();
        let mix = Mix { channel: Some(Channel::Email), negative_share: 0.9, foreign_share: 0.0, ..Mix::default() };
        let mut g = Generator::new(mix, "spike");
        let subs: Vec<_> = (0..1000).map(|_| g.next(&mut rng)).collect();
        assert!(subs.iter().all(|s| s.channel == Channel::Email));
        let prefixes: Vec<&str> = NEGATIVE.iter().filter_map(|t| t.split("{p}").next()).collect();
        let negative = subs.iter().filter(|s| prefixes.iter().any(|p| s.text.starts_with(p))).count();
        assert!(negative > 800, "{negative} negative texts of 1000");
    }
}
