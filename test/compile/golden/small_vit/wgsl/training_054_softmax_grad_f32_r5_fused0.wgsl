// softmax_grad[f32:r5:fused0]
struct Params { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> vitm_params: Params;
fn prm(i: u32) -> u32 { return vitm_params.w[i >> 2u][i & 3u]; }
fn prmf(i: u32) -> f32 { return bitcast<f32>(prm(i)); }
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<private> vitm_bits: vec2<u32> = vec2<u32>(0x7f800000u, 0x7fc00000u);
fn vinf() -> f32 { return bitcast<f32>(vitm_bits.x); }
fn vnan() -> f32 { return bitcast<f32>(vitm_bits.y); }
fn visnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn visfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
fn vb(c: bool) -> u32 { return select(0u, 1u, c); }
fn vexp(x: f32) -> f32 { return select(exp(min(x, 89.0)), x, visnan(x)); }
fn vlog(x: f32) -> f32 {
  if (x < 0.0) { return vnan(); }
  if (x == 0.0) { return -vinf(); }
  return log(x);
}
fn vsqrt(x: f32) -> f32 { return select(sqrt(x), vnan(), x < 0.0); }
fn vrsqrt(x: f32) -> f32 {
  if (x < 0.0) { return vnan(); }
  if (x == 0.0) { return vinf(); }
  return inverseSqrt(x);
}
fn vtanh(x: f32) -> f32 { return select(tanh(x), sign(x), abs(x) > 10.0); }
fn vsigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
// asin on [0, 0.5] by Cephes' asinf polynomial (about 1 ulp); acos by the half-angle identities, since built-in
// acos may be far less accurate (Vulkan only bounds it through atan2).
fn vasin_small(x: f32) -> f32 {
  let z = x * x;
  let p = (((4.2163199048e-2 * z + 2.4181311049e-2) * z + 4.5470025998e-2) * z + 7.4953002686e-2) * z + 1.6666752422e-1;
  return x + x * z * p;
}
fn vacos(x: f32) -> f32 {
  if (!(abs(x) <= 1.0)) { return vnan(); }
  if (x > 0.5) { return 2.0 * vasin_small(sqrt(0.5 * (1.0 - x))); }
  if (x < -0.5) { return 3.141592653589793 - 2.0 * vasin_small(sqrt(0.5 * (1.0 + x))); }
  return 1.5707963267948966 - vasin_small(x);
}
fn vmaxf(a: f32, b: f32) -> f32 { return select(max(a, b), vnan(), visnan(a) || visnan(b)); }
fn vminf(a: f32, b: f32) -> f32 { return select(min(a, b), vnan(), visnan(a) || visnan(b)); }
fn vpow(x: f32, y: f32) -> f32 {
  if (visnan(x) || visnan(y)) { return vnan(); }
  if (y == 0.0) { return 1.0; }
  if (x == 0.0) { return select(vinf(), 0.0, y > 0.0); }
  let m = exp2(y * log2(abs(x)));
  if (x > 0.0) { return m; }
  if (trunc(y) != y) { return vnan(); }
  let odd = abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
  return select(m, -m, odd);
}
// erfc(z) for z >= 0 by the Chebyshev fit of Numerical Recipes' erfcc (relative error < 1.2e-7 everywhere).
fn verfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + p);
}
// erf below |x| = 0.5: the Taylor series 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)), seven terms in Horner form
// (the first omitted term is below 5e-10 there).
fn verf_series(x: f32) -> f32 {
  let x2 = x * x;
  return x * (1.1283791670955126 + x2 * (-0.37612638903183754 + x2 * (0.11283791670955126 + x2 * (-0.026866170645131252
    + x2 * (0.005223977625442188 + x2 * (-0.0008548327023450852 + x2 * 0.00012055332981789664))))));
}
// erf: the series below |x| = 0.5; above, 1 - erfc(|x|) with the sign, whose absolute error is below 1.2e-7
// erfc(0.5) < 6e-8 plus rounding. Both are computed and one selected: SIMD lanes on either side of 0.5 then pay for
// one exp and one division, not for two divergent branches.
fn verf(x: f32) -> f32 {
  let a = abs(x);
  let tail = sign(x) * (1.0 - verfc_pos(min(a, 10.0)));
  return select(select(tail, verf_series(x), a < 0.5), x, visnan(x));
}
// Phi(x) = 0.5 erfc(-x / sqrt 2), through erfc on both sides: 0.5 erfc(z) for z >= 0, 1 - 0.5 erfc(-z) below, where
// 0.5 erfc(-z) <= 0.5 cannot cancel. Phi's relative error is then erfc's (< 1.2e-7), so gelu(x) = x Phi(x) keeps its
// relative accuracy for large negative x, and the lanes of a SIMD group pay for one exp and one division.
fn vphi(x: f32) -> f32 {
  let z = -x * 0.7071067811865476;
  let h = 0.5 * verfc_pos(min(abs(z), 20.0));
  return select(1.0 - h, h, z >= 0.0);
}
fn vgelu(x: f32) -> f32 { return select(x * vphi(x), x, visnan(x)); }
fn vgelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + vtanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
// gelu'(x) = Phi(x) + x phi(x) with one exp: Phi(-|x|) = 0.5 erfc(|x| / sqrt 2) by Abramowitz and Stegun 7.1.26
// (absolute error below 7.5e-8 in Phi), whose factor exp(-x^2 / 2) is phi's. The clamp keeps x phi(x) at 0, not
// inf * 0, for huge |x| (phi(20) < 6e-88).
fn vgelu_grad(x: f32) -> f32 {
  let c = clamp(x, -20.0, 20.0);
  let e = exp(-0.5 * c * c);
  let t = 1.0 / (1.0 + 0.23164188 * abs(c));
  let q = 0.5 * e * t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return select(select(q, 1.0 - q, x >= 0.0) + 0.3989422804014327 * c * e, x, visnan(x));
}
// The tanh form's derivative 0.5 (1 + t) + 0.5 x (1 - t^2) u' with t = tanh(u) through e = exp(-2|u|):
// 0.5 (1 + t) = 1 / (1 + e) or e / (1 + e), 1 - t^2 = 4 e / (1 + e)^2, so neither cancels where |t| nears 1.
fn vgelu_tanh_grad(x: f32) -> f32 {
  let c = clamp(x, -10.0, 10.0);
  let u = 0.7978845608028654 * (c + 0.044715 * c * c * c);
  let e = exp(-2.0 * abs(u));
  let r = 1.0 / (1.0 + e);
  let du = 0.7978845608028654 * (1.0 + 0.134145 * c * c);
  return select(select(e * r, r, u >= 0.0) + 2.0 * c * e * r * r * du, x, visnan(x));
}
// Float to integer: truncation toward zero wrapping modulo 2^32; non-finite gives 0.
fn vf2u(x: f32) -> u32 {
  if (!visfinite(x)) { return 0u; }
  let t = trunc(x);
  if (abs(t) < 2147483648.0) { return bitcast<u32>(i32(t)); }
  // |t| >= 2^31 is a multiple of 2^8, so the remainder below is exact in f32.
  let r = t - 4294967296.0 * floor(t / 4294967296.0);
  return u32(r);
}
fn vidiv(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return bitcast<i32>(0u - bitcast<u32>(a)); }
  return a / b;
}
fn vudiv(a: u32, b: u32) -> u32 { return select(a / b, 0u, b == 0u); }


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let gi = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * 64u + lid;
  if (gi >= prm(0u)) { return; }
  let y_0 = y[gi * 5u + 0u];
  let y_1 = y[gi * 5u + 1u];
  let y_2 = y[gi * 5u + 2u];
  let y_3 = y[gi * 5u + 3u];
  let y_4 = y[gi * 5u + 4u];
  let g_0 = g[gi * 5u + 0u];
  let g_1 = g[gi * 5u + 1u];
  let g_2 = g[gi * 5u + 2u];
  let g_3 = g[gi * 5u + 3u];
  let g_4 = g[gi * 5u + 4u];
  let s = (((y_0 * g_0 + y_4 * g_4) + y_1 * g_1) + (y_2 * g_2 + y_3 * g_3));
  out[gi * 5u + 0u] = ((y_0 * (g_0 - s)) * bitcast<f32>(1056964608u));
  out[gi * 5u + 1u] = ((y_1 * (g_1 - s)) * bitcast<f32>(1056964608u));
  out[gi * 5u + 2u] = ((y_2 * (g_2 - s)) * bitcast<f32>(1056964608u));
  out[gi * 5u + 3u] = ((y_3 * (g_3 - s)) * bitcast<f32>(1056964608u));
  out[gi * 5u + 4u] = ((y_4 * (g_4 - s)) * bitcast<f32>(1056964608u));
}
