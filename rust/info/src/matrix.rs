//! Row-major sample matrices: borrowed views over caller memory and owned embeddings.

use crate::error::{invalid, Error, Result};

/// A read-only `rows x cols` row-major matrix of samples (one sample per row), borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct MatrixRef<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
}

impl<'a> MatrixRef<'a> {
    /// Wraps `data` (length `rows * cols`, row-major). `name` is used in error messages.
    pub fn new(name: &'static str, data: &'a [f64], rows: usize, cols: usize) -> Result<Self> {
        if cols == 0 {
            return Err(invalid(name, "must have at least one column"));
        }
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(invalid(
                name,
                format!(
                    "buffer of {} values does not hold {rows} x {cols}",
                    data.len()
                ),
            ));
        }
        Ok(Self { data, rows, cols })
    }

    /// A single column (1-D series).
    pub fn column(name: &'static str, data: &'a [f64]) -> Result<Self> {
        Self::new(name, data, data.len(), 1)
    }

    /// Number of samples.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of dimensions per sample.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Value at (`row`, `col`).
    #[inline]
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.data[row * self.cols + col]
    }

    /// The underlying row-major buffer.
    pub fn data(&self) -> &'a [f64] {
        self.data
    }

    /// Fails with [`Error::NonFinite`] naming the first NaN or infinity.
    pub fn check_finite(&self, name: &'static str) -> Result<()> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(p) => Err(Error::NonFinite {
                name,
                row: p / self.cols,
                col: p % self.cols,
            }),
        }
    }
}

/// An owned row-major matrix (used for joint spaces and time-delay embeddings).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    data: Vec<f64>,
    rows: usize,
    cols: usize,
}

impl Matrix {
    /// Builds from a row-major buffer; `data.len()` must equal `rows * cols`.
    pub fn from_vec(data: Vec<f64>, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { data, rows, cols }
    }

    /// A borrowed view.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef {
            data: &self.data,
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Places the columns of several same-length matrices side by side.
    pub fn hstack(parts: &[MatrixRef<'_>]) -> Self {
        let rows = parts.first().map_or(0, |p| p.rows);
        let cols: usize = parts.iter().map(|p| p.cols).sum();
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for p in parts {
                data.extend_from_slice(&p.data[r * p.cols..(r + 1) * p.cols]);
            }
        }
        Self { data, rows, cols }
    }

    /// The rows of `m` in the order given by `order` (a permutation or any index list).
    pub fn take_rows(m: MatrixRef<'_>, order: &[usize]) -> Self {
        let mut data = Vec::with_capacity(order.len() * m.cols);
        for &r in order {
            data.extend_from_slice(&m.data[r * m.cols..(r + 1) * m.cols]);
        }
        Self {
            data,
            rows: order.len(),
            cols: m.cols,
        }
    }
}

/// Checks that every input has `n` rows, naming the first that does not.
pub(crate) fn check_same_rows(inputs: &[(&'static str, MatrixRef<'_>)]) -> Result<usize> {
    let Some(&(first_name, first)) = inputs.first() else {
        return Ok(0);
    };
    for &(name, m) in &inputs[1..] {
        if m.rows != first.rows {
            return Err(Error::LengthMismatch {
                name,
                got: m.rows,
                other: first_name,
                expected: first.rows,
            });
        }
    }
    for &(name, m) in inputs {
        m.check_finite(name)?;
    }
    Ok(first.rows)
}
