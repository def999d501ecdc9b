//! The demo's topic catalogue (deploy/demo/topics.json, seeded by `deploy/dev.sh up`) covers
//! what the demo's generator writes, so trending topics and drivers show data from the start.

use rtcx_loadgen::synthetic::{Generator, Mix};
use rtcx_schemas::text::contains_words;

#[derive(serde::Deserialize)]
struct Topic {
    name: String,
    keywords: Vec<String>,
}

#[test]
fn demo_topics_cover_the_demo_traffic() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/topics.json");
    let topics: Vec<Topic> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read topics.json")).expect("parse topics.json");
    assert!(topics.len() >= 5, "a catalogue of a handful of topics");
    let mut rng = rand::rng();
    let mut g = Generator::new(Mix { duplicate_share: 0.0, ..Mix::default() }, "demo");
    let texts: Vec<String> = (0..3000).map(|_| g.next(&mut rng).text).collect();
    let mut hits = vec![0usize; topics.len()];
    let mut covered = 0;
    for t in &texts {
        // Matched as the processors match keywords: lower-case, whole words.
        let t = t.to_lowercase();
        let mut any = false;
        for (i, topic) in topics.iter().enumerate() {
            if topic.keywords.iter().any(|k| contains_words(&t, &k.to_lowercase())) {
                hits[i] += 1;
                any = true;
            }
        }
        covered += usize::from(any);
    }
    assert!(covered as f64 >= 0.95 * texts.len() as f64, "only {covered} of {} texts have a topic", texts.len());
    for (topic, n) in topics.iter().zip(&hits) {
        assert!(*n as f64 >= 0.02 * texts.len() as f64, "topic {:?} matches only {n} texts", topic.name);
    }
}
