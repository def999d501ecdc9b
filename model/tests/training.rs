//! `rtcx-model train` end to end on a small data set written in the real formats of
//! ../shared/data (built here from the committed held-out samples): both stages run, only the
//! tuned layers are stored (as 8-bit deltas), the same seed reproduces the same files (the
//! second run also reads the frozen states back from the cache, as does a run on a subset of
//! the texts), and the analyzer loads the result with the tuned layers applied.

use std::path::{Path, PathBuf};
use std::process::Command;

use rtcx_inference::{Analyzer, Batching, SentenceEncoder};
use sha2::{Digest, Sha256};

const ROWS: usize = 50;

fn sample(name: &str) -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let text = std::fs::read_to_string(&path).expect("read a committed sample");
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .take(ROWS)
        .map(|(label, text)| (label.to_owned(), text.to_owned()))
        .collect()
}

fn write(path: &Path, content: String) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn csv(path: &Path, header: [&str; 2], rows: Vec<[String; 2]>) {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect("header");
    for r in rows {
        w.write_record(&r).expect("row");
    }
    write(path, String::from_utf8(w.into_inner().expect("csv")).expect("utf-8"));
}

/// A miniature ../shared/data: the same files and formats, ROWS rows per source.
fn mini_data(dir: &Path) {
    let goemotions = |file: &str, rows: &[(String, String)], map: &dyn Fn(&str) -> String| {
        let body: String = rows.iter().enumerate().map(|(i, (l, t))| format!("{t}\t{}\tid{i}\n", map(l))).collect();
        write(&dir.join("goemotions").join(file), body);
    };
    let emotion = sample("emotion-goemotions.tsv");
    let (train, dev) = emotion.split_at(ROWS * 4 / 5);
    goemotions("ekman/train.tsv", train, &|l| l.to_owned());
    goemotions("ekman/dev.tsv", dev, &|l| l.to_owned());
    // Group ids: 1 negative, 2 neutral, 3 positive (rtcx's 0, 1, 2).
    let group = sample("sentiment-goemotions-group.tsv");
    let shift =
        |l: &str| l.split(',').map(|v| (v.parse::<usize>().unwrap_or(0) + 1).to_string()).collect::<Vec<_>>().join(",");
    let (train, dev) = group.split_at(ROWS * 4 / 5);
    goemotions("group/train.tsv", train, &shift);
    goemotions("group/dev.tsv", dev, &shift);
    let label = |l: &str, names: [&str; 3]| names[l.parse::<usize>().unwrap_or(1).min(2)].to_owned();
    csv(
        &dir.join("brand-tweets/sxsw-product-tweets.csv"),
        ["tweet_text", "is_there_an_emotion_directed_at_a_brand_or_product"],
        sample("sentiment-sxsw-tweets.tsv")
            .into_iter()
            .map(|(l, t)| {
                [t, label(&l, ["Negative emotion", "No emotion toward brand or product", "Positive emotion"])]
            })
            .collect(),
    );
    csv(
        &dir.join("brand-tweets/apple-tweets.csv"),
        ["text", "sentiment"],
        sample("sentiment-apple-tweets.tsv").into_iter().map(|(l, t)| [t, label(&l, ["1", "3", "5"])]).collect(),
    );
    let tweets = sample("sentiment-tweeteval.tsv");
    for (part, rows) in [("val", &tweets[..ROWS / 2]), ("test", &tweets[ROWS / 2..])] {
        let te = dir.join("tweeteval-sentiment");
        write(&te.join(format!("{part}_text.txt")), rows.iter().map(|(_, t)| format!("{t}\n")).collect());
        write(&te.join(format!("{part}_labels.txt")), rows.iter().map(|(l, _)| format!("{l}\n")).collect());
    }
    let rt = sample("sentiment-rt-polarity.tsv");
    for (file, want) in [("rt-polarity.pos", "2"), ("rt-polarity.neg", "0")] {
        let body = rt.iter().filter(|(l, _)| l == want).map(|(_, t)| format!("{t}\n")).collect();
        write(&dir.join("rt-polarity").join(file), body);
    }
    // Customer reviews (text, stars, the set's own split): the committed clothing sample's
    // texts with stars from its labels, in each of the four folders.
    let reviews = sample("sentiment-reviews-clothing.tsv");
    for folder in ["restaurant-app-reviews", "pet-insurance-trustpilot", "womens-ecommerce-clothing", "amazon-alexa"] {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["rating", "text", "split"]).expect("header");
        for (i, (l, t)) in reviews.iter().enumerate() {
            let stars = ["1", "3", "5"][l.parse::<usize>().unwrap_or(1).min(2)];
            w.write_record([stars, t.as_str(), fixed_split(i)]).expect("row");
        }
        let path = dir.join("customer-reviews").join(folder).join("reviews.csv");
        write(&path, String::from_utf8(w.into_inner().expect("csv")).expect("utf-8"));
    }
    // Support intents (text, intent, split; Bitext also tags): the TweetEval sample's texts
    // with an intent standing for their label (negative: a problem report; neutral: a plain
    // request; positive: an intent that is not used). Every fourth Bitext row is tagged
    // offensive, which is skipped.
    for (folder, intents, tags) in [
        ("banking77", ["card_not_working", "activate_my_card", "lost_or_stolen_card"], false),
        ("bitext-customer-service", ["complaint", "track_order", "review"], true),
    ] {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["text", "category", "intent", "split", "tags"]).expect("header");
        for (i, (l, t)) in tweets.iter().enumerate() {
            let intent = intents[l.parse::<usize>().unwrap_or(1).min(2)];
            let tag = if tags && i % 4 == 3 { "BW" } else { "BL" };
            w.write_record([t.as_str(), "X", intent, fixed_split(i), tag]).expect("row");
        }
        let path = dir.join("topic-intents").join(folder).join("data.csv");
        write(&path, String::from_utf8(w.into_inner().expect("csv")).expect("utf-8"));
    }
}

/// The fixed split of the `i`-th row of a miniature review or intent set: 70 % train, 10 % dev,
/// 20 % test.
fn fixed_split(i: usize) -> &'static str {
    ["train", "train", "train", "train", "train", "train", "train", "dev", "test", "test"][i % 10]
}

fn train(model: &str, data: &Path, cache: &Path, out: &Path, extra: &[&str]) {
    let run = Command::new(env!("CARGO_BIN_EXE_rtcx-model"))
        .env("RTCX_MODEL_DIR", model)
        .arg("train")
        .arg("--data")
        .arg(data)
        .arg("--cache")
        .arg(cache)
        .arg("--out")
        .arg(out)
        .arg("--challenge")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/challenge.tsv"))
        .args(["--epochs", "2", "--tune-epochs", "1", "--tune-layers", "2", "--intents"])
        .args(extra)
        .output()
        .expect("run train");
    assert!(
        run.status.success(),
        "train failed\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn train_fine_tunes_reproducibly_and_the_analyzer_applies_the_tuned_layers() {
    let model = rtcx_service_kit::testing::env("RTCX_MODEL_DIR");
    let root = std::env::temp_dir().join(format!("rtcx-train-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (data, cache, first, second) = (root.join("data"), root.join("cache"), root.join("a"), root.join("b"));
    mini_data(&data);
    train(&model, &data, &cache, &first, &[]);
    train(&model, &data, &cache, &second, &[]);

    let heads = std::fs::read(first.join("heads.safetensors")).expect("heads written");
    assert_eq!(heads, std::fs::read(second.join("heads.safetensors")).expect("second run"), "same seed, same tensors");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("manifest.json")).expect("manifest")).expect("json");
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(second.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["metrics"], again["metrics"]);
    assert_eq!(manifest["tuned"]["layers"], serde_json::json!([4, 5]));
    // Six sources as before, four review sets, two intent sets and the challenge set for both
    // tasks.
    assert_eq!(manifest["metrics"].as_object().map(|m| m.len()), Some(14), "{}", manifest["metrics"]);
    assert_eq!(manifest["frozen_metrics"].as_object().map(|m| m.len()), Some(14));
    assert_eq!(manifest["metrics"]["sentiment/challenge"]["n"], 339, "every challenge row is scored");
    let polar_train = sample("sentiment-reviews-clothing.tsv")
        .iter()
        .enumerate()
        .filter(|(i, (l, _))| i % 10 < 7 && l != "1")
        .count();
    assert_eq!(manifest["data"]["reviews-alexa"]["train"], polar_train, "three-star and dev rows are not trained on");
    assert_eq!(manifest["data_options"]["intents"], true, "{}", manifest["data_options"]);
    assert_eq!(manifest["data_options"]["three_stars"], "skip");
    // Intent rows: only mapped intents, only the set's train split, offensive rows skipped.
    let tweets = sample("sentiment-tweeteval.tsv");
    let mapped_train = |skip_tagged: bool| {
        tweets
            .iter()
            .enumerate()
            .filter(|(i, (l, _))| fixed_split(*i) == "train" && l != "2")
            .filter(|(i, _)| !skip_tagged || i % 4 != 3)
            .count()
    };
    assert_eq!(manifest["data"]["intents-banking77"]["train"], mapped_train(false));
    assert_eq!(manifest["data"]["intents-bitext"]["train"], mapped_train(true));
    // The second run computed nothing: one chunk of frozen states serves both; so does a run
    // on a subset of the texts (the cache is keyed by text, not by the set of texts).
    let chunks = || -> Vec<PathBuf> {
        std::fs::read_dir(&cache)
            .expect("cache dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("states-"))
            .flat_map(|d| std::fs::read_dir(d.path()).expect("states dir").flatten().map(|e| e.path()))
            .collect()
    };
    assert_eq!(chunks().len(), 1, "{:?}", chunks());
    train(&model, &data, &cache, &root.join("c"), &["--train-cap", "5", "--exclude-source", "intents-bitext"]);
    assert_eq!(chunks().len(), 1, "{:?}", chunks());
    // replay.txt (the texts `adapt` keeps the model's answers on) is written, the same each run.
    let replay = std::fs::read_to_string(first.join("replay.txt")).expect("replay.txt written");
    assert!(replay.lines().count() >= 50, "{} replay texts", replay.lines().count());
    assert_eq!(replay, std::fs::read_to_string(second.join("replay.txt")).expect("second replay"));
    let cos = manifest["tuned"]["heldout_cosine_to_base"].as_f64().expect("cosine");
    assert!(cos > 0.8 && cos < 1.0, "tuned embeddings stay near the base ones but move: {cos}");

    // Only layers 4 and 5 are stored, weight matrices as u8 deltas: a few MB.
    let tensors = candle_core::safetensors::load_buffer(&heads, &candle_core::Device::Cpu).expect("safetensors");
    let encoder: Vec<&String> = tensors.keys().filter(|k| k.starts_with("encoder.")).collect();
    assert_eq!(encoder.len(), 2 * (6 * 3 + 4), "per layer: 6 matrices × (q8 + scale) + 10 vectors");
    assert!(encoder.iter().all(|k| k.starts_with("encoder.layer.4.") || k.starts_with("encoder.layer.5.")));
    let q = &tensors["encoder.layer.5.intermediate.dense.weight.delta_q8"];
    assert_eq!((q.dtype(), q.dims()), (candle_core::DType::U8, &[1536usize, 384][..]));
    assert!(heads.len() < 5_000_000, "{} bytes", heads.len());

    // The analyzer applies the tuned layers: its embedding is not the base encoder's.
    let analyzer = Analyzer::load(Path::new(&model), &first, 128, Batching::default()).expect("load the trained model");
    let text = "The parcel arrived two weeks late and nobody answers the phone.";
    let tuned = analyzer.analyze(&[text]).expect("analyze").remove(0).embedding;
    let base_enc = SentenceEncoder::load(Path::new(&model), 128).expect("base encoder");
    let base = base_enc.embed(&[text]).and_then(|e| e.normalized()).expect("embed").get(0).expect("row");
    let base: Vec<f32> = base.to_vec1().expect("vec");
    let dot: f32 = tuned.iter().zip(&base).map(|(a, b)| a * b).sum();
    assert!(dot > 0.5 && dot < 0.99999, "cosine to the base embedding {dot}");
    assert_eq!(analyzer.model().version, hex::encode(Sha256::digest(&heads))[..12]);
    let _ = std::fs::remove_dir_all(&root);
}
