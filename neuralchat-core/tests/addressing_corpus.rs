#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bot addressing against a labelled corpus of English and Russian chat
//! messages (tests/data/addressing_corpus.tsv): precision and recall are
//! printed (`cargo test --test addressing_corpus -- --nocapture`) and must
//! stay above their floors. False triggers cost more than misses, so the
//! precision floor is the higher one.

use neuralchat_core::bots::{addressed_to, BotNames};

/// The lowest precision accepted: of the messages taken as calls, the
/// share that are.
const PRECISION_FLOOR: f64 = 0.97;
/// The lowest recall accepted: of the calls, the share taken as such.
const RECALL_FLOOR: f64 = 0.93;

#[test]
fn the_corpus_is_addressed_as_labelled() {
    let corpus = include_str!("data/addressing_corpus.tsv");
    let bots = [BotNames::new("Olga", ["Ольга", "Оля"])];
    let (mut tp, mut fp, mut fn_, mut tn) = (0u32, 0u32, 0u32, 0u32);
    let mut wrong = Vec::new();
    for line in corpus.lines().filter(|l| !l.starts_with('#')) {
        let (label, text) = line.split_once('\t').expect("label<TAB>text");
        let want = match label {
            "yes" => true,
            "no" => false,
            other => panic!("bad label {other:?} in {line:?}"),
        };
        let got = addressed_to(text, &bots).is_some();
        match (want, got) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
        if want != got {
            wrong.push(format!("{label}\t{text}"));
        }
    }
    let total = tp + fp + fn_ + tn;
    assert!(
        total >= 150,
        "the corpus has {total} messages, fewer than 150"
    );
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    println!(
        "addressing corpus: {total} messages, precision {precision:.3}, recall {recall:.3} \
         (tp {tp}, fp {fp}, fn {fn_}, tn {tn})"
    );
    for line in &wrong {
        println!("  misread: {line}");
    }
    assert!(
        precision >= PRECISION_FLOOR,
        "precision {precision:.3} < {PRECISION_FLOOR}; misread:\n{}",
        wrong.join("\n")
    );
    assert!(
        recall >= RECALL_FLOOR,
        "recall {recall:.3} < {RECALL_FLOOR}; misread:\n{}",
        wrong.join("\n")
    );
}
