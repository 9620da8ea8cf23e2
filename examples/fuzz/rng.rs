//! A small deterministic PRNG (SplitMix64), so a seed names the same mutants on every
//! machine and every mutant can be replayed alone from (seed, index).

/// SplitMix64: fast, tiny, and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    /// The stream of mutant `index` in the run with `seed`: independent of every other
    /// mutant, so `--mutant INDEX` replays one without running the ones before it.
    pub fn for_mutant(seed: u64, index: u64) -> Rng {
        let mut mix = Rng(seed ^ 0x5EED_F022_D0C0_FFEE);
        let a = mix.next();
        Rng(a ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `words` (which must not be empty).
    pub fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
