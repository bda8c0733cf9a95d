//! The linear associative memory of the paper (§5): `W` (`d × d`) maps key embeddings `e_k`
//! (columns of `E`, `d × K`) to logits `Ẽᵀ W e_k` over the `K` classes, whose value
//! embeddings are the columns of `Ẽ` (`d × K`). All matrices are row-major `f32`.

use muon::cpu::linalg::matmul;
use muon::cpu::{MatMut, MatRef, MuonError};

use crate::rng::Rng;

/// A row-major dense matrix owned in a `Vec`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows · cols` elements, row-major.
    pub data: Vec<f32>,
}

impl Dense {
    /// The zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The identity (`n × n`).
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }

    /// The transpose.
    pub fn transpose(&self) -> Self {
        let mut t = Self::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                t.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        t
    }

    /// A read-only view for the core's kernels.
    pub fn view(&self) -> Result<MatRef<'_>, MuonError> {
        MatRef::new(self.rows, self.cols, &self.data)
    }

    /// A mutable view for the core's kernels.
    pub fn view_mut(&mut self) -> Result<MatMut<'_>, MuonError> {
        MatMut::new(self.rows, self.cols, &mut self.data)
    }

    /// `self · rhs` through the core's matmul.
    pub fn mul(&self, rhs: &Dense) -> Result<Dense, MuonError> {
        let mut out = Dense::zeros(self.rows, rhs.cols);
        matmul(self.view()?, rhs.view()?, out.view_mut()?)?;
        Ok(out)
    }
}

/// The 3×3 Euler rotation `R(a, b, c)` of the paper (§5, coupled embeddings).
pub fn euler_rotation(a: f64, b: f64, c: f64) -> [[f64; 3]; 3] {
    let (sa, ca) = a.sin_cos();
    let (sb, cb) = b.sin_cos();
    let (sc, cc) = c.sin_cos();
    [
        [ca * cb * cc - sa * sc, -ca * cb * sc - sa * cc, ca * sb],
        [sa * cb * cc + ca * sc, -sa * cb * sc + ca * cc, sa * sb],
        [-sb * cc, sb * sc, cb],
    ]
}

/// `I_{n/3} ⊗ R`: `n × n` block diagonal with the rotation on every 3×3 block.
pub fn block_rotation(n: usize, r: [[f64; 3]; 3]) -> Dense {
    let mut m = Dense::zeros(n, n);
    for block in 0..n / 3 {
        for (i, row) in r.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                m.data[(3 * block + i) * n + 3 * block + j] = *v as f32;
            }
        }
    }
    m
}

/// Which embeddings the one-layer model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbeddingKind {
    /// `E = Ẽ = I`: axis-aligned; SignGD happens to be balanced here.
    Decoupled,
    /// Block rotations (paper §5): `Ẽ = I ⊗ R(3.638, 2.949, 5.218)`,
    /// `E = I ⊗ R(1.715, 0.876, 3.098)`; the embeddings are their columns.
    Coupled,
}

impl EmbeddingKind {
    /// Both kinds, in report order.
    pub const ALL: [Self; 2] = [Self::Decoupled, Self::Coupled];

    /// The name used in tables and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Decoupled => "decoupled",
            Self::Coupled => "coupled",
        }
    }

    /// Key and value embeddings `(E, Ẽ)` for `k` classes in `d = k` dimensions.
    pub fn embeddings(self, k: usize) -> (Dense, Dense) {
        match self {
            Self::Decoupled => (Dense::identity(k), Dense::identity(k)),
            Self::Coupled => (
                block_rotation(k, euler_rotation(1.715, 0.876, 3.098)),
                block_rotation(k, euler_rotation(3.638, 2.949, 5.218)),
            ),
        }
    }
}

/// `d × n` matrix of independent Gaussian columns, each normalised to unit length.
pub fn random_unit_columns(d: usize, n: usize, rng: &mut Rng) -> Dense {
    let mut m = Dense::zeros(d, n);
    for j in 0..n {
        let col: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        for (i, v) in col.iter().enumerate() {
            m.data[i * n + j] = (v / norm) as f32;
        }
    }
    m
}

/// The two-level class distribution: the first `L = ⌊βK⌋` classes (see [`head_count`]) share
/// mass `α`, the rest share `1 − α`.
pub fn two_level_distribution(k: usize, alpha: f64, beta: f64) -> Vec<f32> {
    let head = head_count(k, beta);
    (0..k)
        .map(|i| {
            if i < head {
                (alpha / head as f64) as f32
            } else {
                ((1.0 - alpha) / (k - head) as f64) as f32
            }
        })
        .collect()
}

/// Number of head classes `L = ⌊βK⌋` (Python's `int(beta * K)`, as in the independent
/// recomputation of the paper's ϱ table at K = 999), clamped to `[1, K − 1]`.
///
/// The rounding matters for coupled embeddings: with `K = 999`, `β = 0.2`, `⌊βK⌋ = 199` puts
/// one head and two tail classes in the mixed 3×3 block and SignGD's `ϱ^0.1` is ≈ 0.0005 (the
/// paper's value); `round(βK) = 200` (two head, one tail) gives ≈ 0.016. GD and Muon barely
/// change. A tiny tolerance keeps exact products such as `0.2 · 30` from flooring to 5.
pub fn head_count(k: usize, beta: f64) -> usize {
    ((beta * k as f64 + 1e-9).floor() as usize).clamp(1, k.saturating_sub(1).max(1))
}

/// A linear associative memory with fixed embeddings; `W` is owned by the caller.
#[derive(Clone, Debug)]
pub struct Memory {
    /// Keys `E` (`d × n`).
    pub keys: Dense,
    /// Values `Ẽ` (`d × n`).
    pub values: Dense,
    /// `Ẽᵀ` (`n × d`), kept to avoid transposing every step.
    values_t: Dense,
}

/// The result of one evaluation of the memory on a set of facts.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Probability of the correct class for each fact.
    pub correct_prob: Vec<f32>,
    /// Cross-entropy of each fact.
    pub loss: Vec<f32>,
    /// Whether each fact's arg-max prediction is its class.
    pub correct: Vec<bool>,
}

impl Memory {
    /// A memory over the given embeddings (`keys` and `values` both `d × n`).
    pub fn new(keys: Dense, values: Dense) -> Self {
        let values_t = values.transpose();
        Self {
            keys,
            values,
            values_t,
        }
    }

    /// Number of classes `n`.
    pub fn classes(&self) -> usize {
        self.keys.cols
    }

    /// Embedding dimension `d`.
    pub fn dim(&self) -> usize {
        self.keys.rows
    }

    /// Column-wise softmax probabilities `P` (`n × b`) of `Ẽᵀ W E_b` for the facts `batch`
    /// (indices of key columns). `P[i][j]` is the probability of class `i` for fact `j`.
    fn probabilities(&self, w: &Dense, batch: &[usize]) -> Result<Dense, MuonError> {
        let keys_b = self.key_columns(batch);
        let logits = self.values_t.mul(&w.mul(&keys_b)?)?; // n × b
        let (n, b) = (logits.rows, logits.cols);
        let mut p = logits;
        for j in 0..b {
            let max = (0..n)
                .map(|i| p.data[i * b + j])
                .fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f64;
            for i in 0..n {
                let e = (p.data[i * b + j] - max).exp();
                p.data[i * b + j] = e;
                sum += f64::from(e);
            }
            for i in 0..n {
                p.data[i * b + j] = (f64::from(p.data[i * b + j]) / sum) as f32;
            }
        }
        Ok(p)
    }

    /// `E_b` (`d × b`): the key columns of `batch`.
    fn key_columns(&self, batch: &[usize]) -> Dense {
        let (d, n) = (self.dim(), self.classes());
        let mut kb = Dense::zeros(d, batch.len());
        for i in 0..d {
            for (j, &c) in batch.iter().enumerate() {
                kb.data[i * batch.len() + j] = self.keys.data[i * n + c];
            }
        }
        kb
    }

    /// All logits `Ẽᵀ W E` (`n × n`): column `k` holds the logits of fact `k`.
    pub fn logits(&self, w: &Dense) -> Result<Dense, MuonError> {
        self.values_t.mul(&w.mul(&self.keys)?)
    }

    /// Evaluates every fact `k` (key `e_k`, class `k`).
    pub fn evaluate(&self, w: &Dense) -> Result<Evaluation, MuonError> {
        let all: Vec<usize> = (0..self.classes()).collect();
        let p = self.probabilities(w, &all)?;
        let n = self.classes();
        let mut eval = Evaluation {
            correct_prob: vec![],
            loss: vec![],
            correct: vec![],
        };
        for k in 0..n {
            let pk = p.data[k * n + k];
            let best = (0..n).all(|i| i == k || p.data[i * n + k] < pk);
            eval.correct_prob.push(pk);
            eval.loss.push(-(pk.max(1e-30)).ln());
            eval.correct.push(best);
        }
        Ok(eval)
    }

    /// Weighted loss `−Σ_j w_j log P[c_j][j]` and its gradient
    /// `∇W = Ẽ (P − Y) diag(w) E_bᵀ` (`d × d`) for facts `batch` (classes = key indices) with
    /// weights `weights` (the class distribution for the population loss, `1/b` for a
    /// mini-batch). Four products: `W E_b` (`d·d·b`), `Ẽᵀ(·)` (`n·d·b`), `Ẽ R` (`d·n·b`) and
    /// `(·) E_bᵀ` (`d·b·d`).
    pub fn loss_and_gradient(
        &self,
        w: &Dense,
        batch: &[usize],
        weights: &[f32],
    ) -> Result<Gradient, MuonError> {
        let p = self.probabilities(w, batch)?;
        let b = batch.len();
        let mut r = p; // becomes (P − Y) diag(w), n × b
        let mut loss = 0.0f64;
        let mut correct_prob = Vec::with_capacity(b);
        for (j, (&c, &wt)) in batch.iter().zip(weights).enumerate() {
            let pc = r.data[c * b + j];
            correct_prob.push(pc);
            loss -= f64::from(wt) * f64::from(pc.max(1e-30)).ln();
            r.data[c * b + j] -= 1.0;
            for i in 0..r.rows {
                r.data[i * b + j] *= wt;
            }
        }
        let keys_b_t = self.key_columns(batch).transpose(); // b × d
        let grad = self.values.mul(&r)?.mul(&keys_b_t)?;
        Ok(Gradient {
            loss,
            grad,
            correct_prob,
        })
    }
}

/// What [`Memory::loss_and_gradient`] computes in one pass.
#[derive(Clone, Debug)]
pub struct Gradient {
    /// The weighted cross-entropy.
    pub loss: f64,
    /// Its gradient with respect to `W` (`d × d`).
    pub grad: Dense,
    /// The correct-class probability of each fact of the batch, in batch order.
    pub correct_prob: Vec<f32>,
}
