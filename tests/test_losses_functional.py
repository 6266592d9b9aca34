"""d2kd.losses.functional against hand computations and naive loop implementations."""
import cmath
import math

import pytest
import torch

from d2kd.losses import functional as LF


def _t(nested):
    return torch.tensor(nested, dtype=torch.float64)


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------- naive references
def _naive_pkd(s, t, eps=1e-6):
    n, c, h, w = s.shape

    def normalise(x):
        out = [[[[0.0] * w for _ in range(h)] for _ in range(c)] for _ in range(n)]
        for ci in range(c):
            vals = [float(v) for v in x[:, ci].flatten()]
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
            for ni in range(n):
                for hi in range(h):
                    for wi in range(w):
                        out[ni][ci][hi][wi] = (float(x[ni, ci, hi, wi]) - mean) / (std + eps)
        return out

    a, b = normalise(s), normalise(t)
    sq = [
        (a[ni][ci][hi][wi] - b[ni][ci][hi][wi]) ** 2
        for ni in range(n)
        for ci in range(c)
        for hi in range(h)
        for wi in range(w)
    ]
    return sum(sq) / len(sq) / 2


def _naive_cwd(s, t, tau):
    n, c, h, w = s.shape
    total = 0.0
    for ni in range(n):
        for ci in range(c):
            xs = [float(v) / tau for v in s[ni, ci].flatten()]
            xt = [float(v) / tau for v in t[ni, ci].flatten()]
            zs = sum(math.exp(v) for v in xs)
            zt = sum(math.exp(v) for v in xt)
            for vs, vt in zip(xs, xt):
                ps, pt = math.exp(vs) / zs, math.exp(vt) / zt
                total += pt * math.log(pt / ps)
    return total * tau**2 / (n * c)


def _naive_avg_pool(x, k):
    """Windows start at 0, k, 2k, ... < size; a partial window averages its valid cells."""
    h, w = len(x), len(x[0])
    return [
        [
            sum(x[r][q] for r in range(i, min(i + k, h)) for q in range(j, min(j + k, w)))
            / ((min(i + k, h) - i) * (min(j + k, w) - j))
            for j in range(0, w, k)
        ]
        for i in range(0, h, k)
    ]


def _naive_multiscale(s, t, kernels):
    n, c, _, _ = s.shape
    total = 0.0
    for k in kernels:
        sq = []
        for ni in range(n):
            for ci in range(c):
                ps = _naive_avg_pool(s[ni, ci].tolist(), k)
                pt = _naive_avg_pool(t[ni, ci].tolist(), k)
                sq += [(a - b) ** 2 for ra, rb in zip(ps, pt) for a, b in zip(ra, rb)]
        total += sum(sq) / len(sq)
    return total


# ---------------------------------------------------------------- feature_mse
def test_feature_mse_hand_value():
    s = _t([[[[1.0, 2.0], [3.0, 4.0]]]])
    t = _t([[[[0.0, 2.0], [5.0, 1.0]]]])
    # differences 1, 0, -2, 3 -> squares 1, 0, 4, 9 -> mean 14 / 4
    assert LF.feature_mse(s, t).item() == pytest.approx(3.5)


def test_feature_mse_batch_and_channels():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    t = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    sq = [(a - b) ** 2 for a, b in zip(s.flatten().tolist(), t.flatten().tolist())]
    assert LF.feature_mse(s, t).item() == pytest.approx(sum(sq) / 24)


# ---------------------------------------------------------------- pkd_loss
def test_pkd_loss_hand_value():
    # one channel, values 1, 2, 3: mean 2, unbiased std sqrt((1 + 0 + 1) / 2) = 1
    s = _t([[[[1.0, 2.0, 3.0]]]])
    t = _t([[[[3.0, 2.0, 1.0]]]])
    # s_hat = (-1, 0, 1), t_hat = (1, 0, -1) -> squares 4, 0, 4 -> mean 8/3 -> / 2
    assert LF.pkd_loss(s, t, eps=0.0).item() == pytest.approx(4.0 / 3.0)
    # default eps scales both by 1 / (1 + 1e-6)
    assert LF.pkd_loss(s, t).item() == pytest.approx(4.0 / 3.0 / (1 + 1e-6) ** 2, rel=1e-12)
    # affine-related features have a perfect correlation: loss 0
    assert LF.pkd_loss(s, 5 * s + 7, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)


def test_pkd_loss_normalises_per_channel_over_batch_and_space():
    s = _t(
        [
            [[[1.0, 4.0]], [[10.0, 0.0]]],
            [[[2.0, 8.0]], [[-3.0, 5.0]]],
        ]
    )  # (N=2, C=2, H=1, W=2)
    t = _t(
        [
            [[[0.5, 1.0]], [[2.0, 2.0]]],
            [[[3.0, -1.0]], [[7.0, 1.0]]],
        ]
    )
    expected = _naive_pkd(s, t)
    assert LF.pkd_loss(s, t).item() == pytest.approx(expected, rel=1e-10)
    # a per-sample normalisation would give another number: the reduction matters here
    per_sample = sum(_naive_pkd(s[i : i + 1], t[i : i + 1]) for i in range(2)) / 2
    assert abs(per_sample - expected) > 1e-3


def test_pkd_loss_random_matches_naive():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(3, 2, 2, 3, generator=g, dtype=torch.float64)
    t = torch.randn(3, 2, 2, 3, generator=g, dtype=torch.float64)
    assert LF.pkd_loss(s, t).item() == pytest.approx(_naive_pkd(s, t), rel=1e-10)


# ---------------------------------------------------------------- cwd_loss
def test_cwd_loss_hand_value():
    s = _t([[[[0.0, 0.0]]]])  # softmax (1/2, 1/2)
    t = _t([[[[0.0, math.log(3.0)]]]])  # softmax (1/4, 3/4)
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert LF.cwd_loss(s, t).item() == pytest.approx(kl)
    # tau = 2: teacher logits halved -> (1, sqrt(3)) / (1 + sqrt(3)); times tau^2 = 4
    p1, p2 = 1 / (1 + math.sqrt(3)), math.sqrt(3) / (1 + math.sqrt(3))
    kl2 = p1 * math.log(p1 / 0.5) + p2 * math.log(p2 / 0.5)
    assert LF.cwd_loss(s, t, tau=2.0).item() == pytest.approx(4 * kl2)


def test_cwd_loss_averages_over_batch_and_channels():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(2, 3, 2, 3, generator=g, dtype=torch.float64)
    t = torch.randn(2, 3, 2, 3, generator=g, dtype=torch.float64)
    for tau in (1.0, 0.5, 3.0):
        assert LF.cwd_loss(s, t, tau=tau).item() == pytest.approx(_naive_cwd(s, t, tau), rel=1e-10)
    assert LF.cwd_loss(t, t).item() == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- multiscale_loss
def test_multiscale_loss_hand_value_odd_size():
    s = _t([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]])
    t = torch.zeros_like(s)
    k1 = (1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 81) / 9
    # k = 2, ceil_mode: windows {1,2,4,5}, {3,6}, {7,8}, {9} -> 3, 4.5, 7.5, 9
    k2 = (3.0**2 + 4.5**2 + 7.5**2 + 9.0**2) / 4
    # k = 4: one window over all nine values -> mean 5
    k4 = 25.0
    assert LF.multiscale_loss(s, t, kernels=(1,)).item() == pytest.approx(k1)
    assert LF.multiscale_loss(s, t, kernels=(2,)).item() == pytest.approx(k2)
    assert LF.multiscale_loss(s, t).item() == pytest.approx(k1 + k2 + k4)


def test_multiscale_loss_batch_channels_matches_naive():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 2, 5, 7, generator=g, dtype=torch.float64)
    t = torch.randn(2, 2, 5, 7, generator=g, dtype=torch.float64)
    for kernels in [(1, 2, 4), (3,), (2, 8)]:
        assert LF.multiscale_loss(s, t, kernels).item() == pytest.approx(
            _naive_multiscale(s, t, kernels), rel=1e-10
        )


def test_multiscale_kernel_one_is_feature_mse():
    g = torch.Generator().manual_seed(4)
    s, t = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    torch.testing.assert_close(LF.multiscale_loss(s, t, (1,)), LF.feature_mse(s, t))


# ---------------------------------------------------------------- frequency_mask
def test_frequency_mask_zeta_bounds():
    x = torch.randn(2, 3, 6, 5)
    out0 = LF.frequency_mask(x, 0.0)
    torch.testing.assert_close(out0, x, atol=1e-5, rtol=1e-5)
    assert out0.dtype == x.dtype and out0.shape == x.shape
    out1 = LF.frequency_mask(x, 1.0)
    assert torch.count_nonzero(out1) == 0 and out1.shape == x.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_frequency_mask_real_dtype_and_shape(dtype):
    out = LF.frequency_mask(torch.randn(2, 3, 4, 5, dtype=dtype), 0.5)
    assert out.dtype == dtype and not out.is_complex() and out.shape == (2, 3, 4, 5)


def test_frequency_mask_matches_naive_dft():
    x = torch.randn(2, 2, 2, 3, dtype=torch.float64)
    zeta = 0.5
    out = LF.frequency_mask(x, zeta, generator=torch.Generator().manual_seed(7))
    # the same draws: M = 0 where U < zeta, one (H, W) mask per sample
    u = torch.rand((2, 1, 2, 3), generator=torch.Generator().manual_seed(7))
    h, w = 2, 3
    for n in range(2):
        keep = [[0.0 if float(u[n, 0, i, j]) < zeta else 1.0 for j in range(w)] for i in range(h)]
        for c in range(2):
            v = x[n, c].tolist()
            spec = [
                [
                    sum(
                        v[a][b] * cmath.exp(-2j * math.pi * (p * a / h + q * b / w))
                        for a in range(h)
                        for b in range(w)
                    )
                    * keep[p][q]
                    for q in range(w)
                ]
                for p in range(h)
            ]
            for a in range(h):
                for b in range(w):
                    val = sum(
                        spec[p][q] * cmath.exp(2j * math.pi * (p * a / h + q * b / w))
                        for p in range(h)
                        for q in range(w)
                    ) / (h * w)
                    assert float(out[n, c, a, b]) == pytest.approx(val.real, abs=1e-10)


def test_frequency_mask_differs_across_samples_and_is_reproducible():
    x = torch.randn(1, 2, 16, 16).repeat(3, 1, 1, 1)
    out = LF.frequency_mask(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    again = LF.frequency_mask(x, 0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)


def test_frequency_mask_kept_fraction():
    # a unit impulse has a flat spectrum, so output[0, 0] = mean(M) = kept fraction
    h = w = 128
    x = torch.zeros(2, 1, h, w, dtype=torch.float64)
    x[:, :, 0, 0] = 1.0
    for zeta in (0.25, 0.5, 0.8):
        out = LF.frequency_mask(x, zeta, generator=torch.Generator().manual_seed(1))
        for n in range(2):
            assert float(out[n, 0, 0, 0]) == pytest.approx(1 - zeta, abs=0.02)


def test_frequency_mask_gradient():
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    LF.frequency_mask(x, 0.5).pow(2).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


# ---------------------------------------------------------------- attention
def test_attention_hand_values():
    # channel 0: [1, 2]; channel 1: [3, -1]  (N=1, C=2, H=1, W=2)
    t = _t([[[[1.0, 2.0]], [[3.0, -1.0]]]])
    sa = LF.spatial_attention(t, tau=2.0)
    assert sa.shape == (1, 1, 1, 2)
    # mean over channels of t^2: (1 + 9) / 2 = 5, (4 + 1) / 2 = 2.5; divided by tau = 2
    assert float(sa[0, 0, 0, 0]) == pytest.approx(_sigmoid(2.5))
    assert float(sa[0, 0, 0, 1]) == pytest.approx(_sigmoid(1.25))
    ca = LF.channel_attention(t, tau=0.5)
    assert ca.shape == (1, 2, 1, 1)
    # mean over positions: 1.5 and 1.0; divided by tau = 0.5
    assert float(ca[0, 0, 0, 0]) == pytest.approx(_sigmoid(3.0))
    assert float(ca[0, 1, 0, 0]) == pytest.approx(_sigmoid(2.0))


def test_attention_hand_values_two_samples_three_channels():
    # (N=2, C=3, H=1, W=2); each sample is reduced on its own, never across N
    t = _t(
        [
            [[[1.0, 2.0]], [[3.0, -1.0]], [[0.0, 2.0]]],  # sample 0
            [[[2.0, 0.0]], [[-3.0, -1.0]], [[4.0, 1.0]]],  # sample 1
        ]
    )
    sa = LF.spatial_attention(t, tau=2.0)
    assert sa.shape == (2, 1, 1, 2)
    # mean over the 3 channels of t^2, divided by tau = 2:
    # sample 0: (1 + 9 + 0) / 3 / 2 = 5/3,  (4 + 1 + 4) / 3 / 2 = 3/2
    # sample 1: (4 + 9 + 16) / 3 / 2 = 29/6, (0 + 1 + 1) / 3 / 2 = 1/3
    expected_sa = [[5 / 3, 3 / 2], [29 / 6, 1 / 3]]
    for n in range(2):
        for w in range(2):
            assert float(sa[n, 0, 0, w]) == pytest.approx(_sigmoid(expected_sa[n][w])), (n, w)
    ca = LF.channel_attention(t, tau=0.5)
    assert ca.shape == (2, 3, 1, 1)
    # signed mean over the 2 positions, divided by tau = 0.5:
    # sample 0: 3/2 -> 3, 2/2 -> 2, 2/2 -> 2;  sample 1: 2/2 -> 2, -4/2 -> -4, 5/2 -> 5
    expected_ca = [[3.0, 2.0, 2.0], [2.0, -4.0, 5.0]]
    for n in range(2):
        for c in range(3):
            assert float(ca[n, c, 0, 0]) == pytest.approx(_sigmoid(expected_ca[n][c])), (n, c)


def test_attention_shapes_and_ranges():
    t = torch.randn(3, 4, 5, 6) * 0.3
    sa, ca = LF.spatial_attention(t, 1.0), LF.channel_attention(t, 1.0)
    assert sa.shape == (3, 1, 5, 6) and ca.shape == (3, 4, 1, 1)
    assert bool((sa >= 0.5).all() and (sa < 1).all())  # t^2 >= 0
    assert bool((ca > 0).all() and (ca < 1).all())


# ---------------------------------------------------------------- masked_generation_loss
def test_masked_generation_loss_hand_value():
    s = _t([[[[1.0, 2.0]]], [[[3.0, 4.0]]]])  # (N=2, C=1, H=1, W=2)
    t = _t([[[[0.0, 1.0]]], [[[1.0, 1.0]]]])
    mask = _t([[[[0.0, 1.0]]], [[[1.0, 1.0]]]])
    # identity: sample 0: (0-0)^2 + (2-1)^2 = 1; sample 1: (3-1)^2 + (4-1)^2 = 13 -> (1 + 13) / 2
    assert LF.masked_generation_loss(s, t, mask, None).item() == pytest.approx(7.0)
    # generator x -> 2x: sample 0: 0 + (4-1)^2 = 9; sample 1: 25 + 49 = 74 -> 83 / 2
    assert LF.masked_generation_loss(s, t, mask, lambda x: 2 * x).item() == pytest.approx(41.5)


def test_masked_generation_loss_channel_mask_sums_over_chw_means_over_n():
    g = torch.Generator().manual_seed(5)
    s = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    t = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    mask = _t([[[[1.0]], [[0.0]], [[1.0]]], [[[0.0]], [[0.0]], [[1.0]]]])  # (2, 3, 1, 1)
    total = 0.0
    for n in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(2):
                    masked = float(s[n, c, i, j]) * float(mask[n, c, 0, 0])
                    total += (masked - float(t[n, c, i, j])) ** 2
    assert LF.masked_generation_loss(s, t, mask, None).item() == pytest.approx(total / 2)


# ---------------------------------------------------------------- validation
def test_shape_mismatch_names_both_shapes():
    s, t = torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 5)
    for fn in (LF.feature_mse, LF.pkd_loss, LF.cwd_loss, LF.multiscale_loss):
        with pytest.raises(ValueError, match=r"\(1, 2, 3, 4\).*\(1, 2, 3, 5\)"):
            fn(s, t)
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 4\).*\(1, 2, 3, 5\)"):
        LF.masked_generation_loss(s, t, torch.ones(1, 1, 3, 4), None)


def test_non_4d_inputs_rejected():
    with pytest.raises(ValueError, match="N, C, H, W"):
        LF.feature_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="N, C, H, W"):
        LF.spatial_attention(torch.zeros(3, 4), 1.0)
    with pytest.raises(ValueError, match="N, C, H, W"):
        LF.frequency_mask(torch.zeros(3, 4, 4), 0.5)


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_bad_tau(tau):
    x = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="tau"):
        LF.cwd_loss(x, x, tau=tau)
    with pytest.raises(ValueError, match="tau"):
        LF.spatial_attention(x, tau)
    with pytest.raises(ValueError, match="tau"):
        LF.channel_attention(x, tau)


@pytest.mark.parametrize("zeta", [-0.1, 1.5])
def test_bad_zeta(zeta):
    with pytest.raises(ValueError, match="zeta"):
        LF.frequency_mask(torch.zeros(1, 1, 2, 2), zeta)


@pytest.mark.parametrize("kernels", [(), [], (0,), (1, -2), (1.5,), 2])
def test_bad_kernels(kernels):
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="kernels"):
        LF.multiscale_loss(x, x, kernels)


def test_bad_mask_shape():
    x = torch.zeros(2, 3, 4, 4)
    for mask in (torch.ones(1, 1, 4, 4), torch.ones(2, 2, 1, 1), torch.ones(2, 1, 4)):
        with pytest.raises(ValueError, match="mask"):
            LF.masked_generation_loss(x, x, mask, None)


def test_pkd_needs_two_values_per_channel():
    x = torch.zeros(1, 3, 1, 1)
    with pytest.raises(ValueError, match="N\\*H\\*W"):
        LF.pkd_loss(x, x)
