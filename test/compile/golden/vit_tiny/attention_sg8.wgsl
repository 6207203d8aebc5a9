enable subgroups;

// attention[f32:sg8:n50:m50:d16:dv16:kv]
struct Params { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> vitm_params: Params;
@group(0) @binding(1) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let wg = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
  if (wg >= vitm_params.w[0].x) { return; }
  let qb = wg % 7u;
  var rest = wg / 7u;
  var oq = 0u;
  var ok = 64u;
  var ov = 128u;
  var oo = 0u;
  { let c = rest % 4u; rest = rest / 4u;
    oq += c * 16u; ok += c * 16u; ov += c * 16u; oo += c * 16u; }
  let row = qb * 8u + lid;
  let qr = (oq + min(row, 49u) * 192u) >> 2u;
  let q0 = in0[qr + 0u] * bitcast<f32>(1052289595u);
  let q1 = in0[qr + 1u] * bitcast<f32>(1052289595u);
  let q2 = in0[qr + 2u] * bitcast<f32>(1052289595u);
  let q3 = in0[qr + 3u] * bitcast<f32>(1052289595u);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var mx = -3.0e38;
  var l = 0.0;
  let t0 = 0u + lane;
  var sb0 = ok;
  var ss0 = 192u;
  if (t0 < 4u) { sb0 = ok + 4u * t0; }
  else if (t0 < 8u) { sb0 = ov + 4u * (t0 - 4u); ss0 = 192u; }
  for (var j = 0u; j < 48u; j += 8u) {
    let x0_0 = in0[(sb0 + (j + 0u) * ss0) >> 2u];
    let x1_0 = in0[(sb0 + (j + 1u) * ss0) >> 2u];
    let x2_0 = in0[(sb0 + (j + 2u) * ss0) >> 2u];
    let x3_0 = in0[(sb0 + (j + 3u) * ss0) >> 2u];
    let x4_0 = in0[(sb0 + (j + 4u) * ss0) >> 2u];
    let x5_0 = in0[(sb0 + (j + 5u) * ss0) >> 2u];
    let x6_0 = in0[(sb0 + (j + 6u) * ss0) >> 2u];
    let x7_0 = in0[(sb0 + (j + 7u) * ss0) >> 2u];
    let s0 = dot(q0, subgroupBroadcast(x0_0, 0u)) + dot(q1, subgroupBroadcast(x0_0, 1u)) + dot(q2, subgroupBroadcast(x0_0, 2u)) + dot(q3, subgroupBroadcast(x0_0, 3u));
    let s1 = dot(q0, subgroupBroadcast(x1_0, 0u)) + dot(q1, subgroupBroadcast(x1_0, 1u)) + dot(q2, subgroupBroadcast(x1_0, 2u)) + dot(q3, subgroupBroadcast(x1_0, 3u));
    let s2 = dot(q0, subgroupBroadcast(x2_0, 0u)) + dot(q1, subgroupBroadcast(x2_0, 1u)) + dot(q2, subgroupBroadcast(x2_0, 2u)) + dot(q3, subgroupBroadcast(x2_0, 3u));
    let s3 = dot(q0, subgroupBroadcast(x3_0, 0u)) + dot(q1, subgroupBroadcast(x3_0, 1u)) + dot(q2, subgroupBroadcast(x3_0, 2u)) + dot(q3, subgroupBroadcast(x3_0, 3u));
    let s4 = dot(q0, subgroupBroadcast(x4_0, 0u)) + dot(q1, subgroupBroadcast(x4_0, 1u)) + dot(q2, subgroupBroadcast(x4_0, 2u)) + dot(q3, subgroupBroadcast(x4_0, 3u));
    let s5 = dot(q0, subgroupBroadcast(x5_0, 0u)) + dot(q1, subgroupBroadcast(x5_0, 1u)) + dot(q2, subgroupBroadcast(x5_0, 2u)) + dot(q3, subgroupBroadcast(x5_0, 3u));
    let s6 = dot(q0, subgroupBroadcast(x6_0, 0u)) + dot(q1, subgroupBroadcast(x6_0, 1u)) + dot(q2, subgroupBroadcast(x6_0, 2u)) + dot(q3, subgroupBroadcast(x6_0, 3u));
    let s7 = dot(q0, subgroupBroadcast(x7_0, 0u)) + dot(q1, subgroupBroadcast(x7_0, 1u)) + dot(q2, subgroupBroadcast(x7_0, 2u)) + dot(q3, subgroupBroadcast(x7_0, 3u));
    let mb = max(max(max(max(max(max(max(s0, s1), s2), s3), s4), s5), s6), s7);
    let mn = max(mx, mb);
    let corr = exp2(mx - mn);
    mx = mn;
    let p0 = exp2(s0 - mn);
    let p1 = exp2(s1 - mn);
    let p2 = exp2(s2 - mn);
    let p3 = exp2(s3 - mn);
    let p4 = exp2(s4 - mn);
    let p5 = exp2(s5 - mn);
    let p6 = exp2(s6 - mn);
    let p7 = exp2(s7 - mn);
    l = l * corr + p0 + p1 + p2 + p3 + p4 + p5 + p6 + p7;
    acc0 = acc0 * corr + p0 * subgroupBroadcast(x0_0, 4u) + p1 * subgroupBroadcast(x1_0, 4u) + p2 * subgroupBroadcast(x2_0, 4u) + p3 * subgroupBroadcast(x3_0, 4u) + p4 * subgroupBroadcast(x4_0, 4u) + p5 * subgroupBroadcast(x5_0, 4u) + p6 * subgroupBroadcast(x6_0, 4u) + p7 * subgroupBroadcast(x7_0, 4u);
    acc1 = acc1 * corr + p0 * subgroupBroadcast(x0_0, 5u) + p1 * subgroupBroadcast(x1_0, 5u) + p2 * subgroupBroadcast(x2_0, 5u) + p3 * subgroupBroadcast(x3_0, 5u) + p4 * subgroupBroadcast(x4_0, 5u) + p5 * subgroupBroadcast(x5_0, 5u) + p6 * subgroupBroadcast(x6_0, 5u) + p7 * subgroupBroadcast(x7_0, 5u);
    acc2 = acc2 * corr + p0 * subgroupBroadcast(x0_0, 6u) + p1 * subgroupBroadcast(x1_0, 6u) + p2 * subgroupBroadcast(x2_0, 6u) + p3 * subgroupBroadcast(x3_0, 6u) + p4 * subgroupBroadcast(x4_0, 6u) + p5 * subgroupBroadcast(x5_0, 6u) + p6 * subgroupBroadcast(x6_0, 6u) + p7 * subgroupBroadcast(x7_0, 6u);
    acc3 = acc3 * corr + p0 * subgroupBroadcast(x0_0, 7u) + p1 * subgroupBroadcast(x1_0, 7u) + p2 * subgroupBroadcast(x2_0, 7u) + p3 * subgroupBroadcast(x3_0, 7u) + p4 * subgroupBroadcast(x4_0, 7u) + p5 * subgroupBroadcast(x5_0, 7u) + p6 * subgroupBroadcast(x6_0, 7u) + p7 * subgroupBroadcast(x7_0, 7u);
  }
  {
    let x0_0 = in0[(sb0 + (48u) * ss0) >> 2u];
    let x1_0 = in0[(sb0 + (49u) * ss0) >> 2u];
    let s0 = dot(q0, subgroupBroadcast(x0_0, 0u)) + dot(q1, subgroupBroadcast(x0_0, 1u)) + dot(q2, subgroupBroadcast(x0_0, 2u)) + dot(q3, subgroupBroadcast(x0_0, 3u));
    let s1 = dot(q0, subgroupBroadcast(x1_0, 0u)) + dot(q1, subgroupBroadcast(x1_0, 1u)) + dot(q2, subgroupBroadcast(x1_0, 2u)) + dot(q3, subgroupBroadcast(x1_0, 3u));
    let mb = max(s0, s1);
    let mn = max(mx, mb);
    let corr = exp2(mx - mn);
    mx = mn;
    let p0 = exp2(s0 - mn);
    let p1 = exp2(s1 - mn);
    l = l * corr + p0 + p1;
    acc0 = acc0 * corr + p0 * subgroupBroadcast(x0_0, 4u) + p1 * subgroupBroadcast(x1_0, 4u);
    acc1 = acc1 * corr + p0 * subgroupBroadcast(x0_0, 5u) + p1 * subgroupBroadcast(x1_0, 5u);
    acc2 = acc2 * corr + p0 * subgroupBroadcast(x0_0, 6u) + p1 * subgroupBroadcast(x1_0, 6u);
    acc3 = acc3 * corr + p0 * subgroupBroadcast(x0_0, 7u) + p1 * subgroupBroadcast(x1_0, 7u);
  }
  if (row < 50u) {
    let inv = 1.0 / l;
    let o = (oo + row * 64u) >> 2u;
    out[o + 0u] = acc0 * inv;
    out[o + 1u] = acc1 * inv;
    out[o + 2u] = acc2 * inv;
    out[o + 3u] = acc3 * inv;
  }
}
