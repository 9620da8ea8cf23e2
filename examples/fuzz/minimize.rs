//! Delta debugging (ddmin): the smallest input, by lines, then tags, then characters,
//! for which an operation still shows the same failure signature.

/// Shrinks `input` while `fails` holds, within `budget` calls of `fails`.
pub fn minimize(input: &str, fails: &mut dyn FnMut(&str) -> bool, budget: usize) -> String {
    let mut calls = 0;
    let mut current = input.to_string();
    let splitters: [fn(&str) -> Vec<String>; 3] = [lines, tags, chars];
    for split in splitters {
        let units = split(&current);
        current = ddmin(units, fails, &mut calls, budget).concat();
        if calls >= budget {
            break;
        }
    }
    current
}

fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// Pieces that each start at a `<` (the text before the first one is a piece too).
fn tags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices('<') {
        if i > start {
            out.push(text[start..i].to_string());
            start = i;
        }
    }
    out.push(text[start..].to_string());
    out
}

fn chars(text: &str) -> Vec<String> {
    text.chars().map(String::from).collect()
}

fn ddmin(
    mut units: Vec<String>,
    fails: &mut dyn FnMut(&str) -> bool,
    calls: &mut usize,
    budget: usize,
) -> Vec<String> {
    let mut n = 2;
    while units.len() >= 2 && *calls < budget {
        let chunk = units.len().div_ceil(n);
        // Remove one chunk at a time; the first removal that still fails wins.
        let mut kept = None;
        for i in 0..n {
            let (from, to) = (i * chunk, ((i + 1) * chunk).min(units.len()));
            if from >= to {
                continue;
            }
            let candidate: Vec<String> =
                units[..from].iter().chain(&units[to..]).cloned().collect();
            *calls += 1;
            if fails(&candidate.concat()) {
                kept = Some(candidate);
                break;
            }
            if *calls >= budget {
                return units;
            }
        }
        if let Some(candidate) = kept {
            units = candidate;
            n = (n - 1).max(2);
        } else {
            if n >= units.len() {
                break;
            }
            n = (n * 2).min(units.len());
        }
    }
    units
}
