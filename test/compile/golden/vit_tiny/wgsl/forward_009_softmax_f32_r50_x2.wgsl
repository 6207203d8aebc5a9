// softmax[f32:r50:x2]
struct Params { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> vitm_params: Params;
fn prm(i: u32) -> u32 { return vitm_params.w[i >> 2u][i & 3u]; }
fn prmf(i: u32) -> f32 { return bitcast<f32>(prm(i)); }
@group(0) @binding(1) var<storage, read> x: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>;

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
  let xv_0 = x[gi * 25u + 0u];
  let xv_1 = x[gi * 25u + 1u];
  let xv_2 = x[gi * 25u + 2u];
  let xv_3 = x[gi * 25u + 3u];
  let xv_4 = x[gi * 25u + 4u];
  let xv_5 = x[gi * 25u + 5u];
  let xv_6 = x[gi * 25u + 6u];
  let xv_7 = x[gi * 25u + 7u];
  let xv_8 = x[gi * 25u + 8u];
  let xv_9 = x[gi * 25u + 9u];
  let xv_10 = x[gi * 25u + 10u];
  let xv_11 = x[gi * 25u + 11u];
  let xv_12 = x[gi * 25u + 12u];
  let xv_13 = x[gi * 25u + 13u];
  let xv_14 = x[gi * 25u + 14u];
  let xv_15 = x[gi * 25u + 15u];
  let xv_16 = x[gi * 25u + 16u];
  let xv_17 = x[gi * 25u + 17u];
  let xv_18 = x[gi * 25u + 18u];
  let xv_19 = x[gi * 25u + 19u];
  let xv_20 = x[gi * 25u + 20u];
  let xv_21 = x[gi * 25u + 21u];
  let xv_22 = x[gi * 25u + 22u];
  let xv_23 = x[gi * 25u + 23u];
  let xv_24 = x[gi * 25u + 24u];
  let x_0 = xv_0[0];
  let x_1 = xv_0[1];
  let x_2 = xv_1[0];
  let x_3 = xv_1[1];
  let x_4 = xv_2[0];
  let x_5 = xv_2[1];
  let x_6 = xv_3[0];
  let x_7 = xv_3[1];
  let x_8 = xv_4[0];
  let x_9 = xv_4[1];
  let x_10 = xv_5[0];
  let x_11 = xv_5[1];
  let x_12 = xv_6[0];
  let x_13 = xv_6[1];
  let x_14 = xv_7[0];
  let x_15 = xv_7[1];
  let x_16 = xv_8[0];
  let x_17 = xv_8[1];
  let x_18 = xv_9[0];
  let x_19 = xv_9[1];
  let x_20 = xv_10[0];
  let x_21 = xv_10[1];
  let x_22 = xv_11[0];
  let x_23 = xv_11[1];
  let x_24 = xv_12[0];
  let x_25 = xv_12[1];
  let x_26 = xv_13[0];
  let x_27 = xv_13[1];
  let x_28 = xv_14[0];
  let x_29 = xv_14[1];
  let x_30 = xv_15[0];
  let x_31 = xv_15[1];
  let x_32 = xv_16[0];
  let x_33 = xv_16[1];
  let x_34 = xv_17[0];
  let x_35 = xv_17[1];
  let x_36 = xv_18[0];
  let x_37 = xv_18[1];
  let x_38 = xv_19[0];
  let x_39 = xv_19[1];
  let x_40 = xv_20[0];
  let x_41 = xv_20[1];
  let x_42 = xv_21[0];
  let x_43 = xv_21[1];
  let x_44 = xv_22[0];
  let x_45 = xv_22[1];
  let x_46 = xv_23[0];
  let x_47 = xv_23[1];
  let x_48 = xv_24[0];
  let x_49 = xv_24[1];
  let m = vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(x_0, x_4), x_8), x_12), x_16), x_20), x_24), x_28), x_32), x_36), x_40), x_44), x_48), vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(x_1, x_5), x_9), x_13), x_17), x_21), x_25), x_29), x_33), x_37), x_41), x_45), x_49)), vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(x_2, x_6), x_10), x_14), x_18), x_22), x_26), x_30), x_34), x_38), x_42), x_46), vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(vmaxf(x_3, x_7), x_11), x_15), x_19), x_23), x_27), x_31), x_35), x_39), x_43), x_47)));
  let e_0 = exp(x_0 - m);
  let e_1 = exp(x_1 - m);
  let e_2 = exp(x_2 - m);
  let e_3 = exp(x_3 - m);
  let e_4 = exp(x_4 - m);
  let e_5 = exp(x_5 - m);
  let e_6 = exp(x_6 - m);
  let e_7 = exp(x_7 - m);
  let e_8 = exp(x_8 - m);
  let e_9 = exp(x_9 - m);
  let e_10 = exp(x_10 - m);
  let e_11 = exp(x_11 - m);
  let e_12 = exp(x_12 - m);
  let e_13 = exp(x_13 - m);
  let e_14 = exp(x_14 - m);
  let e_15 = exp(x_15 - m);
  let e_16 = exp(x_16 - m);
  let e_17 = exp(x_17 - m);
  let e_18 = exp(x_18 - m);
  let e_19 = exp(x_19 - m);
  let e_20 = exp(x_20 - m);
  let e_21 = exp(x_21 - m);
  let e_22 = exp(x_22 - m);
  let e_23 = exp(x_23 - m);
  let e_24 = exp(x_24 - m);
  let e_25 = exp(x_25 - m);
  let e_26 = exp(x_26 - m);
  let e_27 = exp(x_27 - m);
  let e_28 = exp(x_28 - m);
  let e_29 = exp(x_29 - m);
  let e_30 = exp(x_30 - m);
  let e_31 = exp(x_31 - m);
  let e_32 = exp(x_32 - m);
  let e_33 = exp(x_33 - m);
  let e_34 = exp(x_34 - m);
  let e_35 = exp(x_35 - m);
  let e_36 = exp(x_36 - m);
  let e_37 = exp(x_37 - m);
  let e_38 = exp(x_38 - m);
  let e_39 = exp(x_39 - m);
  let e_40 = exp(x_40 - m);
  let e_41 = exp(x_41 - m);
  let e_42 = exp(x_42 - m);
  let e_43 = exp(x_43 - m);
  let e_44 = exp(x_44 - m);
  let e_45 = exp(x_45 - m);
  let e_46 = exp(x_46 - m);
  let e_47 = exp(x_47 - m);
  let e_48 = exp(x_48 - m);
  let e_49 = exp(x_49 - m);
  let s = ((((((((((((((e_0 + e_4) + e_8) + e_12) + e_16) + e_20) + e_24) + e_28) + e_32) + e_36) + e_40) + e_44) + e_48) + ((((((((((((e_1 + e_5) + e_9) + e_13) + e_17) + e_21) + e_25) + e_29) + e_33) + e_37) + e_41) + e_45) + e_49)) + ((((((((((((e_2 + e_6) + e_10) + e_14) + e_18) + e_22) + e_26) + e_30) + e_34) + e_38) + e_42) + e_46) + (((((((((((e_3 + e_7) + e_11) + e_15) + e_19) + e_23) + e_27) + e_31) + e_35) + e_39) + e_43) + e_47)));
  out[gi * 25u + 0u] = vec2<f32>(e_0 / s, e_1 / s);
  out[gi * 25u + 1u] = vec2<f32>(e_2 / s, e_3 / s);
  out[gi * 25u + 2u] = vec2<f32>(e_4 / s, e_5 / s);
  out[gi * 25u + 3u] = vec2<f32>(e_6 / s, e_7 / s);
  out[gi * 25u + 4u] = vec2<f32>(e_8 / s, e_9 / s);
  out[gi * 25u + 5u] = vec2<f32>(e_10 / s, e_11 / s);
  out[gi * 25u + 6u] = vec2<f32>(e_12 / s, e_13 / s);
  out[gi * 25u + 7u] = vec2<f32>(e_14 / s, e_15 / s);
  out[gi * 25u + 8u] = vec2<f32>(e_16 / s, e_17 / s);
  out[gi * 25u + 9u] = vec2<f32>(e_18 / s, e_19 / s);
  out[gi * 25u + 10u] = vec2<f32>(e_20 / s, e_21 / s);
  out[gi * 25u + 11u] = vec2<f32>(e_22 / s, e_23 / s);
  out[gi * 25u + 12u] = vec2<f32>(e_24 / s, e_25 / s);
  out[gi * 25u + 13u] = vec2<f32>(e_26 / s, e_27 / s);
  out[gi * 25u + 14u] = vec2<f32>(e_28 / s, e_29 / s);
  out[gi * 25u + 15u] = vec2<f32>(e_30 / s, e_31 / s);
  out[gi * 25u + 16u] = vec2<f32>(e_32 / s, e_33 / s);
  out[gi * 25u + 17u] = vec2<f32>(e_34 / s, e_35 / s);
  out[gi * 25u + 18u] = vec2<f32>(e_36 / s, e_37 / s);
  out[gi * 25u + 19u] = vec2<f32>(e_38 / s, e_39 / s);
  out[gi * 25u + 20u] = vec2<f32>(e_40 / s, e_41 / s);
  out[gi * 25u + 21u] = vec2<f32>(e_42 / s, e_43 / s);
  out[gi * 25u + 22u] = vec2<f32>(e_44 / s, e_45 / s);
  out[gi * 25u + 23u] = vec2<f32>(e_46 / s, e_47 / s);
  out[gi * 25u + 24u] = vec2<f32>(e_48 / s, e_49 / s);
}
