//! `rtcx-model eval`: scores the configured model on a labelled file (accuracy, macro-F1,
//! per-class F1, confusion matrix) and names the model it measured. A gold label or a
//! prediction that maps to no label of the task is an error, never a row left out.

use std::path::PathBuf;

use anyhow::Context as _;
use rtcx_inference::ModelArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    /// GoEmotions TSV with Ekman labels: `text \t ids \t comment id` (emotion).
    Goemotions,
    /// `labels \t text`, labels as ids or names, comma-separated (task from --task).
    TsvLabel,
    /// The hand-written challenge set (`model/tests/data/challenge.tsv`; task from --task).
    Challenge,
    /// A customer-review set's `reviews.csv` (../shared/data/customer-reviews): its `test`
    /// rows, 1–2 stars negative, 3 neutral, 4–5 positive (sentiment).
    Reviews,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalTask {
    Sentiment,
    Emotion,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The labelled file.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum)]
    pub format: EvalFormat,
    /// Which head to score (tsv-label; goemotions is always emotion).
    #[arg(long, value_enum, default_value = "sentiment")]
    pub task: EvalTask,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Runs `eval`.
pub fn run(e: EvalArgs) -> anyhow::Result<()> {
    use crate::training::metrics::evaluate;
    use crate::training::train::{EMOTION_LABELS, SENTIMENT_LABELS};

    use crate::training::datasets::{Split, Task, challenge_set, customer_reviews};

    let task = match e.format {
        EvalFormat::Goemotions => EvalTask::Emotion,
        EvalFormat::Reviews => EvalTask::Sentiment,
        _ => e.task,
    };
    let labels: &[&str] = if task == EvalTask::Sentiment { &SENTIMENT_LABELS } else { &EMOTION_LABELS };
    let mut texts = Vec::new();
    let mut gold = Vec::new();
    let examples = match e.format {
        EvalFormat::Challenge => challenge_set(&e.data, &EMOTION_LABELS)?,
        EvalFormat::Reviews => customer_reviews(&e.data, "reviews", Default::default())?,
        _ => Vec::new(),
    };
    let want = if task == EvalTask::Sentiment { Task::Sentiment } else { Task::Emotion };
    for x in examples.into_iter().filter(|x| x.task == want && x.split == Split::Holdout) {
        texts.push(x.text);
        gold.push(x.labels);
    }
    let content = match e.format {
        EvalFormat::Goemotions | EvalFormat::TsvLabel => {
            std::fs::read_to_string(&e.data).with_context(|| format!("reading {}", e.data.display()))?
        }
        _ => String::new(),
    };
    for (n, line) in content.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (text, label_col) = match (e.format, cols.as_slice()) {
            (EvalFormat::Goemotions, [t, ids, ..]) => (*t, *ids),
            (EvalFormat::TsvLabel, [ids, t, ..]) => (*t, *ids),
            (EvalFormat::Challenge | EvalFormat::Reviews, _) => continue,
            _ => anyhow::bail!("{}:{}: expected at least two tab-separated columns", e.data.display(), n + 1),
        };
        // A label the task does not have is an error, not a row quietly left out.
        let mut g: Vec<usize> = Vec::new();
        for l in label_col.split(',').map(str::trim).filter(|l| !l.is_empty()) {
            let c = l.parse::<usize>().ok().or_else(|| labels.iter().position(|x| x.eq_ignore_ascii_case(l)));
            match c {
                Some(c) if c < labels.len() => g.push(c),
                _ => anyhow::bail!(
                    "{}:{}: label {l:?} is not one of {labels:?} (or their indices)",
                    e.data.display(),
                    n + 1
                ),
            }
        }
        if !g.is_empty() {
            texts.push(text.to_owned());
            gold.push(g);
        }
    }
    anyhow::ensure!(!texts.is_empty(), "no labelled rows in {}", e.data.display());
    let analyzer = e.model.load(rtcx_inference::Batching::default()).context("loading the model")?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let results = analyzer.analyze(&refs)?;
    // A prediction that maps to no label of the task is refused, never counted as a class.
    let predicted: Vec<usize> = results
        .iter()
        .map(|r| match task {
            EvalTask::Sentiment => {
                rtcx_schemas::SentimentLabel::ALL.iter().position(|l| *l == r.sentiment.label).ok_or_else(|| {
                    anyhow::anyhow!("the model predicted {:?}, which is not a sentiment label", r.sentiment.label)
                })
            }
            EvalTask::Emotion => {
                let p = r.emotions.to_array();
                (0..p.len())
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .ok_or_else(|| anyhow::anyhow!("the model gave no emotion probabilities"))
            }
        })
        .collect::<anyhow::Result<_>>()?;
    let model = analyzer.model();
    println!("model: {} {}", model.name, model.version);
    let report = evaluate(labels, &gold, &predicted);
    print!("{}", report.render(&format!("{} ({:?})", e.data.display(), task).to_lowercase()));
    if e.format == EvalFormat::Reviews {
        // Without the three-star rows: how the 1–2 and 4–5-star reviews are read.
        let polar: Vec<usize> = (0..gold.len()).filter(|&i| gold[i] != [1]).collect();
        let g: Vec<Vec<usize>> = polar.iter().map(|&i| gold[i].clone()).collect();
        let p: Vec<usize> = polar.iter().map(|&i| predicted[i]).collect();
        let r = evaluate(labels, &g, &p);
        let recall = |c: usize| r.classes[c].recall;
        println!(
            "without 3-star reviews: n={} macro-F1={:.4}; 1–2 stars called negative {:.4}, 4–5 stars called positive {:.4}",
            r.n,
            r.macro_f1,
            recall(0),
            recall(2)
        );
    }
    Ok(())
}
