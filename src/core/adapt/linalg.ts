/**
 * Small dense linear algebra for the adaptation code: row-major Float64Array matrices,
 * the handful of routines LDA / whitening need (scatter matrices, Cholesky, triangular
 * solves, symmetric eigendecomposition). Platform-free, single-threaded, no allocation
 * in inner loops. Sizes here are "a gallery": up to a few thousand rows, ~2,000 columns.
 * Not ml-matrix (bundled anyway through ml-kmeans, so this file's 5.4 kB minified is all it would save): adapt()'s fit on
 * its gram/Cholesky/eigen took 4.4× as long (233 vs 53 s, 2,640 × 1,280, 81 classes, same run on a loaded 2-core machine).
 */

/** Row-major dense matrix. */
export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function mat(rows: number, cols: number, data?: Float64Array): Mat {
  const d = data ?? new Float64Array(rows * cols);
  if (d.length !== rows * cols) throw new RangeError(`matrix data has ${d.length} values, expected ${rows}×${cols}`);
  return { rows, cols, data: d };
}

export function transpose(a: Mat): Mat {
  const { rows, cols, data } = a;
  const out = new Float64Array(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const ro = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = data[ro + j]!;
      }
    }
  }
  return mat(cols, rows, out);
}

/** Dot product of a[ao..ao+n) and b[bo..bo+n). */
export function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    s0 += a[ao + k]! * b[bo + k]!;
    s1 += a[ao + k + 1]! * b[bo + k + 1]!;
    s2 += a[ao + k + 2]! * b[bo + k + 2]!;
    s3 += a[ao + k + 3]! * b[bo + k + 3]!;
  }
  for (; k < n; k++) s0 += a[ao + k]! * b[bo + k]!;
  return s0 + s1 + s2 + s3;
}

/**
 * A·Bᵀ for A (m×k) and B (n×k): every output is a dot product of two contiguous rows.
 * Blocked 4×1 so each row of B is read once per four rows of A.
 */
export function mulABt(a: Mat, b: Mat): Mat {
  if (a.cols !== b.cols) throw new RangeError(`mulABt: ${a.rows}×${a.cols} · (${b.rows}×${b.cols})ᵀ`);
  const m = a.rows;
  const n = b.rows;
  const k = a.cols;
  const A = a.data;
  const Bd = b.data;
  const out = new Float64Array(m * n);
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n; j++) {
      const bo = j * k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let t = 0; t < k; t++) {
        const bv = Bd[bo + t]!;
        s0 += A[a0 + t]! * bv;
        s1 += A[a1 + t]! * bv;
        s2 += A[a2 + t]! * bv;
        s3 += A[a3 + t]! * bv;
      }
      out[i * n + j] = s0;
      out[(i + 1) * n + j] = s1;
      out[(i + 2) * n + j] = s2;
      out[(i + 3) * n + j] = s3;
    }
  }
  for (; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = dot(A, i * k, Bd, j * k, k);
  return mat(m, n, out);
}

/** A·B for A (m×k) and B (k×n): i-k-j order, contiguous inner loop. */
export function mul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new RangeError(`mul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  const m = a.rows;
  const k = a.cols;
  const n = b.cols;
  const A = a.data;
  const Bd = b.data;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const oo = i * n;
    for (let t = 0; t < k; t++) {
      const av = A[i * k + t]!;
      if (av === 0) continue;
      const bo = t * n;
      for (let j = 0; j < n; j++) out[oo + j] = out[oo + j]! + av * Bd[bo + j]!;
    }
  }
  return mat(m, n, out);
}

/**
 * Xᵀ·X (cols×cols, symmetric) for X (rows×cols). Computed on the transpose so each entry
 * is a dot product of contiguous rows; a 4×2 register block (8 accumulators) reads each
 * value once per 8 multiply-adds. Upper triangle computed, mirrored. Every entry is summed
 * in the same order whatever the blocking, so results are reproducible bit for bit.
 */
export function gram(x: Mat): Mat {
  const xt = transpose(x);
  const d = xt.rows;
  const n = xt.cols;
  const T = xt.data;
  const out = new Float64Array(d * d);
  let i = 0;
  for (; i + 3 < d; i += 4) {
    const a0 = i * n;
    const a1 = a0 + n;
    const a2 = a1 + n;
    const a3 = a2 + n;
    let j = i;
    for (; j + 1 < d; j += 2) {
      const b0 = j * n;
      const b1 = b0 + n;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      let s20 = 0;
      let s21 = 0;
      let s30 = 0;
      let s31 = 0;
      for (let t = 0; t < n; t++) {
        const u = T[b0 + t]!;
        const v = T[b1 + t]!;
        const p0 = T[a0 + t]!;
        const p1 = T[a1 + t]!;
        const p2 = T[a2 + t]!;
        const p3 = T[a3 + t]!;
        s00 += p0 * u;
        s01 += p0 * v;
        s10 += p1 * u;
        s11 += p1 * v;
        s20 += p2 * u;
        s21 += p2 * v;
        s30 += p3 * u;
        s31 += p3 * v;
      }
      out[i * d + j] = s00;
      out[i * d + j + 1] = s01;
      out[(i + 1) * d + j] = s10;
      out[(i + 1) * d + j + 1] = s11;
      out[(i + 2) * d + j] = s20;
      out[(i + 2) * d + j + 1] = s21;
      out[(i + 3) * d + j] = s30;
      out[(i + 3) * d + j + 1] = s31;
    }
    for (; j < d; j++) for (let r = 0; r < 4; r++) out[(i + r) * d + j] = seqDot(T, (i + r) * n, T, j * n, n);
  }
  for (; i < d; i++) for (let j = i; j < d; j++) out[i * d + j] = seqDot(T, i * n, T, j * n, n);
  for (let r = 0; r < d; r++) for (let c = 0; c < r; c++) out[r * d + c] = out[c * d + r]!;
  return mat(d, d, out);
}

/** Dot product summed strictly left to right (matches the blocked kernels above). */
function seqDot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[ao + k]! * b[bo + k]!;
  return s;
}

/**
 * In-place lower Cholesky factor of a symmetric positive-definite matrix (the upper
 * triangle is zeroed). Returns false when a pivot is not positive (not PD).
 */
export function choleskyInPlace(a: Mat): boolean {
  const n = a.rows;
  const A = a.data;
  for (let j = 0; j < n; j++) {
    const jo = j * n;
    const s = A[jo + j]! - dot(A, jo, A, jo, j);
    if (!(s > 0) || !Number.isFinite(s)) return false;
    const ljj = Math.sqrt(s);
    A[jo + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const io = i * n;
      A[io + j] = (A[io + j]! - dot(A, io, A, jo, j)) * inv;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = 0;
  return true;
}

/** Solves L·y = x for every row x of X (L lower triangular n×n): returns Y with rows y. */
export function forwardSolveRows(l: Mat, x: Mat): Mat {
  const n = l.rows;
  if (x.cols !== n) throw new RangeError(`forwardSolveRows: L is ${n}×${n}, rows have ${x.cols}`);
  const L = l.data;
  const out = new Float64Array(x.data);
  for (let r = 0; r < x.rows; r++) {
    const ro = r * n;
    for (let i = 0; i < n; i++) {
      const io = i * n;
      out[ro + i] = (out[ro + i]! - dot(L, io, out, ro, i)) / L[io + i]!;
    }
  }
  return mat(x.rows, n, out);
}

/** Solves Lᵀ·p = v for every row v of V (L lower triangular n×n): returns P with rows p. */
export function backSolveTransposedRows(l: Mat, v: Mat): Mat {
  const n = l.rows;
  if (v.cols !== n) throw new RangeError(`backSolveTransposedRows: L is ${n}×${n}, rows have ${v.cols}`);
  const L = l.data;
  const out = new Float64Array(v.data);
  for (let r = 0; r < v.rows; r++) {
    const ro = r * n;
    // Column-oriented: once p_i is known, remove its contribution L[i][k]·p_i from every k < i.
    for (let i = n - 1; i >= 0; i--) {
      const io = i * n;
      const pi = out[ro + i]! / L[io + i]!;
      out[ro + i] = pi;
      if (pi !== 0) for (let k = 0; k < i; k++) out[ro + k] = out[ro + k]! - L[io + k]! * pi;
    }
  }
  return mat(v.rows, n, out);
}

/**
 * Eigendecomposition of a symmetric matrix: Householder reduction to tridiagonal form,
 * then the implicit QL algorithm with Wilkinson-style shifts (the classical tred2/tql2
 * pair). Returns eigenvalues in descending order and the eigenvectors as the ROWS of
 * `vectors` (row i pairs with values[i]). O(n³); meant for n up to a few hundred.
 */
export function symmetricEigen(a: Mat): { values: Float64Array; vectors: Mat } {
  const n = a.rows;
  if (a.cols !== n) throw new RangeError('symmetricEigen needs a square matrix');
  const V = new Float64Array(a.data); // V[i*n+j]
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 1) return { values: Float64Array.of(V[0]!), vectors: mat(1, 1, Float64Array.of(1)) };

  // --- tred2: Householder tridiagonalisation, accumulating the transformations in V.
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const vkj = V[k * n + j]!;
          g += vkj * d[k]!;
          e[k] = e[k]! + vkj * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i]!;
    V[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1]! * V[k * n + j]!;
        for (let k = 0; k <= i; k++) V[k * n + j] = V[k * n + j]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j]!;
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;

  // Work on the transpose so the plane rotations below touch contiguous rows.
  const W = transpose(mat(n, n, V)).data; // row i of W = column i of V

  // --- tql2: implicit QL on the tridiagonal (d, e), rotating the rows of W.
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m === n) m = n - 1;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new Error('symmetricEigen: QL iteration did not converge');
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const ro = i * n;
          const r1 = ro + n;
          for (let k = 0; k < n; k++) {
            const hk = W[r1 + k]!;
            const wk = W[ro + k]!;
            W[r1 + k] = s * wk + c * hk;
            W[ro + k] = c * wk - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }

  // Sort descending.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src]!;
    vectors.set(W.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors: mat(n, n, vectors) };
}
