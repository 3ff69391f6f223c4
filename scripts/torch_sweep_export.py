# Exports the architectures users export from PyTorch to .onnx, for scripts/torch-sweep.mjs: torchvision's
# classification and segmentation models and a few patterns built here (transformer encoder, GRU audio
# net, LSTM tagger, UNet, PixelShuffle, GroupNorm, adaptive pooling, interpolation), each at several
# opsets, eval mode, weights seeded per model (torch.manual_seed(1) before it is built; constant
# initialisations replaced by random values, see perturb), batch 1.
#   /usr/bin/python3 scripts/torch_sweep_export.py OUT_DIR [--tiny] [--opsets 11,13,17] [name ...]
# --tiny exports the small variants (few channels, tiny inputs) that tests/torch-models/ commits.
# OUT_DIR/manifest.json lists every file: model, opset, inputs (name, type, dims fed), dynamic axes,
# or the export error. Needs Debian's python3-torch (1.13) and python3-torchvision (0.14).
import json, os, sys, traceback, warnings
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import models as tvm

warnings.filterwarnings("ignore")
FLOAT, INT64 = "float", "int64"


def img(n=224, c=3):
    return [{"name": "input", "type": FLOAT, "dims": [1, c, n, n]}]


# ---- patterns built here -------------------------------------------------------------------------

class TransformerEncoderNet(nn.Module):
    """Token embedding + positional parameter + nn.TransformerEncoder (MultiheadAttention) + mean pool."""

    def __init__(self, vocab=100, d=64, heads=4, ff=128, layers=2, seq=16, classes=10):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos[:, : tokens.shape[1]]
        return self.head(self.encoder(x).mean(dim=1))


class MultiheadAttentionNet(nn.Module):
    """nn.MultiheadAttention on float features (self-attention, sequence first), with its weights output."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        y, w = self.attn(x, x, x)
        return self.norm(x + y), w


class AudioNet(nn.Module):
    """1-D convs with BatchNorm1d over mel frames, then a bidirectional GRU and a per-frame classifier."""

    def __init__(self, mels=40, ch=64, hidden=48, classes=12):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(mels, ch, 5, padding=2), nn.BatchNorm1d(ch), nn.ReLU(),
            nn.Conv1d(ch, ch, 3, stride=2, padding=1), nn.BatchNorm1d(ch), nn.ReLU(),
        )
        self.gru = nn.GRU(ch, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):  # x: [N, mels, frames]
        y = self.conv(x).transpose(1, 2)
        y, _ = self.gru(y)
        return self.fc(y).log_softmax(-1)


class LstmTagger(nn.Module):
    """Embedding + 2-layer bidirectional LSTM + Linear: a sequence tagger."""

    def __init__(self, vocab=200, d=32, hidden=48, tags=9):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, tags)

    def forward(self, tokens):
        y, _ = self.lstm(self.embed(tokens))
        return self.fc(y)


def block(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                         nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Three-level UNet: MaxPool down, ConvTranspose2d (stride 2) up, skip connections by concat."""

    def __init__(self, c=3, base=16, classes=2):
        super().__init__()
        self.d1, self.d2, self.mid = block(c, base), block(base, 2 * base), block(2 * base, 4 * base)
        self.u2 = nn.ConvTranspose2d(4 * base, 2 * base, 2, stride=2)
        self.c2 = block(4 * base, 2 * base)
        self.u1 = nn.ConvTranspose2d(2 * base, base, 2, stride=2)
        self.c1 = block(2 * base, base)
        self.out = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        y = self.c2(torch.cat([self.u2(m), b], 1))
        y = self.c1(torch.cat([self.u1(y), a], 1))
        return torch.sigmoid(self.out(y))


class PixelShuffleNet(nn.Module):
    """ESPCN-style super-resolution: convs, PixelShuffle(3); and PixelUnshuffle(2) on the way in."""

    def __init__(self, c=3, ch=32, r=3):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(2)
        self.body = nn.Sequential(nn.Conv2d(4 * c, ch, 5, padding=2), nn.Tanh(), nn.Conv2d(ch, ch // 2, 3, padding=1), nn.Tanh(),
                                  nn.Conv2d(ch // 2, c * (2 * r) ** 2, 3, padding=1))
        self.shuffle = nn.PixelShuffle(2 * r)

    def forward(self, x):
        return self.shuffle(self.body(self.unshuffle(x)))


class GroupNormNet(nn.Module):
    """Conv + GroupNorm + SiLU residual blocks (diffusion-UNet style), GroupNorm with and without affine."""

    def __init__(self, c=3, ch=32, groups=8):
        super().__init__()
        self.stem = nn.Conv2d(c, ch, 3, padding=1)
        self.n1, self.c1 = nn.GroupNorm(groups, ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(groups // 2, ch, affine=False), nn.Conv2d(ch, ch, 3, padding=1)
        self.n3 = nn.GroupNorm(1, ch)

    def forward(self, x):
        h = self.stem(x)
        y = self.c1(F.silu(self.n1(h)))
        y = self.c2(F.silu(self.n2(y)))
        return self.n3(h + y)


class AdaptivePoolNet(nn.Module):
    """Adaptive average and max pooling to sizes that do and do not divide the input."""

    def __init__(self, c=3, ch=8):
        super().__init__()
        self.conv = nn.Conv2d(c, ch, 3, padding=1)

    def forward(self, x):  # x: [1, c, 18, 30]
        y = self.conv(x)
        a = F.adaptive_avg_pool2d(y, (6, 5))       # divides 18 x 30
        b = F.adaptive_max_pool2d(y, (3, 10))      # divides
        c = F.adaptive_avg_pool2d(y, (1, 1))
        d = F.adaptive_avg_pool2d(y, (7, 11))      # does not divide: export may refuse
        return a, b, c, d


class AdaptivePoolDivNet(nn.Module):
    """Adaptive pooling to sizes that divide the input only (the exportable forms)."""

    def __init__(self, c=3, ch=8):
        super().__init__()
        self.conv = nn.Conv2d(c, ch, 3, padding=1)

    def forward(self, x):  # x: [1, c, 18, 30]
        y = self.conv(x)
        return F.adaptive_avg_pool2d(y, (6, 5)), F.adaptive_max_pool2d(y, (3, 10)), F.adaptive_avg_pool2d(y, (9, 1)), F.adaptive_avg_pool1d(y.flatten(2), 20)


class InterpolateNet(nn.Module):
    """F.interpolate: bilinear (align_corners True / False), nearest, bicubic; by scale and by size."""

    def __init__(self, c=3, ch=4):
        super().__init__()
        self.conv = nn.Conv2d(c, ch, 3, padding=1)

    def forward(self, x):  # x: [1, c, 13, 17]
        y = self.conv(x)
        return (F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False),
                F.interpolate(y, size=(20, 31), mode="bilinear", align_corners=True),
                F.interpolate(y, size=(9, 40), mode="bilinear", align_corners=False),
                F.interpolate(y, scale_factor=2, mode="nearest"),
                F.interpolate(y, size=(30, 25), mode="nearest"),
                F.interpolate(y, scale_factor=2, mode="bicubic", align_corners=False),
                F.interpolate(y, size=(7, 9), mode="bilinear", align_corners=False),
                nn.Upsample(scale_factor=3, mode="bilinear", align_corners=True)(y))


class PaddingNet(nn.Module):
    """Conv padding modes users pick: reflect, replicate, circular; InstanceNorm2d; GELU (tanh)."""

    def __init__(self, c=3, ch=8):
        super().__init__()
        self.same = nn.Conv2d(c, ch, (3, 5), padding=(1, 2))
        self.reflect = nn.Conv2d(ch, ch, 3, padding=2, padding_mode="reflect")
        self.replicate = nn.Conv2d(ch, ch, 3, padding=1, padding_mode="replicate")
        self.circular = nn.Conv2d(ch, ch, 3, padding=1, padding_mode="circular")
        self.norm = nn.InstanceNorm2d(ch, affine=True)

    def forward(self, x):
        y = F.gelu(self.same(x), approximate="tanh")
        y = self.norm(self.reflect(y))
        y = F.gelu(self.replicate(y))
        return self.circular(y)


class TensorOpsNet(nn.Module):
    """Index and reduction ops from post-processing code: cumsum, topk, argmax, sort, where, gather."""

    def forward(self, x):  # x: [1, 6, 10]
        c = torch.cumsum(x, dim=2)
        v, i = torch.topk(x, 3, dim=2)
        a = torch.argmax(x, dim=1)
        s, _ = torch.sort(x, dim=2, descending=True)
        w = torch.where(x > 0, x, 0.1 * x)
        g = torch.gather(x, 2, i)
        return c, v, i, a, s, w, g, x.clamp(-0.5, 0.5).norm(dim=2)


class VideoNet(nn.Module):
    """r3d / r(2+1)d in miniature: Conv3d stems (strided, padded), a (2+1)-D pair, a grouped and a
    depth-dilated Conv3d, BatchNorm3d, 3-D max and average pooling (S3D), a linear head."""

    def __init__(self, c=3, ch=4, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(c, ch, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False), nn.BatchNorm3d(ch), nn.ReLU())
        self.spatial = nn.Conv3d(ch, 2 * ch, (1, 3, 3), padding=(0, 1, 1))
        self.temporal = nn.Conv3d(2 * ch, 2 * ch, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.grouped = nn.Conv3d(2 * ch, 2 * ch, 3, padding=(2, 1, 1), dilation=(2, 1, 1), groups=2)
        self.norm = nn.BatchNorm3d(2 * ch)
        self.fc = nn.Linear(2 * ch, classes)

    def forward(self, x):  # x: [N, c, T, H, W]
        y = F.max_pool3d(self.stem(x), (1, 3, 3), (1, 2, 2), (0, 1, 1))
        y = F.relu(self.temporal(F.relu(self.spatial(y))))
        y = F.relu(self.norm(self.grouped(y)) + y)
        y = F.avg_pool3d(y, (2, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1), ceil_mode=True, count_include_pad=False)
        return self.fc(F.adaptive_avg_pool3d(y, 1).flatten(1))


class UNet3d(nn.Module):
    """A volumetric UNet (medical segmentation): Conv3d, InstanceNorm3d, MaxPool3d, ConvTranspose3d,
    skip concat, trilinear upsampling, BatchNorm3d after a non-conv."""

    def __init__(self, c=1, base=8, classes=2):
        super().__init__()
        self.d1 = nn.Sequential(nn.Conv3d(c, base, 3, padding=1), nn.InstanceNorm3d(base, affine=True), nn.LeakyReLU(0.01))
        self.d2 = nn.Sequential(nn.Conv3d(base, 2 * base, 3, padding=1), nn.InstanceNorm3d(2 * base, affine=True), nn.LeakyReLU(0.01))
        self.up = nn.ConvTranspose3d(2 * base, base, 2, stride=2)
        self.c1 = nn.Sequential(nn.Conv3d(2 * base, base, 3, padding=1), nn.ReLU())
        self.bn = nn.BatchNorm3d(base)
        self.out = nn.Conv3d(base, classes, 1)
        self.deep = nn.Conv3d(2 * base, classes, 1)

    def forward(self, x):  # x: [N, c, D, H, W]
        a = self.d1(x)
        b = self.d2(F.max_pool3d(a, 2))
        y = self.c1(torch.cat([self.up(b), a], 1))
        seg = self.out(self.bn(y + a))
        deep = F.interpolate(self.deep(b), scale_factor=2, mode="trilinear", align_corners=False)
        return seg.softmax(1), deep


class Flow(nn.Module):
    """torchvision's RAFT on two frames: the last flow estimate (GridSample, correlation pyramid)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, a, b):
        return self.m(a, b, num_flow_updates=4)[-1]


def quantized_resnet18():
    """torchvision's quantizable ResNet-18, fused and quantized eagerly (fbgemm, calibrated on noise):
    exports QuantizeLinear / DequantizeLinear around float ops."""
    m = tvm.quantization.resnet18(weights=None, quantize=False).eval()
    m.fuse_model()
    m.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    torch.ao.quantization.prepare(m, inplace=True)
    with torch.no_grad():
        m(torch.randn(2, 3, 224, 224))
    return torch.ao.quantization.convert(m)


class Detection(nn.Module):
    """A torchvision detector on one image [1, 3, H, W]: its boxes, scores and labels (and masks)."""

    def __init__(self, m, masks=False):
        super().__init__()
        self.m = m
        self.masks = masks

    def forward(self, x):
        d = self.m([x[0]])[0]
        return (d["boxes"], d["scores"], d["labels"], d["masks"]) if self.masks else (d["boxes"], d["scores"], d["labels"])


class TinyDetector(nn.Module):
    """
    A one-stage detector's head and post-processing in miniature, as torchvision's detectors export
    it: box and class convs over a feature map, a score threshold (torch.where: NonZero), the top
    candidates (topk with k from their count), class-aware NMS (batched_nms: NonMaxSuppression),
    the kept boxes gathered. The output shapes are the run's data.
    """

    def __init__(self, ch=8, classes=3, top=40):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, ch, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 3, stride=2, padding=1), nn.ReLU())
        self.box = nn.Conv2d(ch, 4, 1)
        self.cls = nn.Conv2d(ch, classes, 1)
        self.top = top

    def forward(self, x):
        f = self.body(x)
        h, w = f.shape[-2:]
        d = self.box(f)[0].flatten(1).transpose(0, 1)                        # [A, 4]
        ys = torch.arange(h, dtype=torch.float32).repeat_interleave(w) * 4
        xs = torch.arange(w, dtype=torch.float32).repeat(h) * 4
        centre = torch.stack([xs, ys], 1) + d[:, :2]
        size = d[:, 2:].exp() * 6
        boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
        scores, labels = self.cls(f)[0].flatten(1).softmax(0).max(0)         # [A]
        keep = torch.where(scores > 0.35)[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        scores, order = scores.topk(min(self.top, scores.size(0)))
        boxes, labels = boxes[order], labels[order]
        keep = torchvision.ops.batched_nms(boxes, scores, labels, 0.1)
        return boxes[keep], scores[keep], labels[keep]


def tiny_rcnn_parts():
    """The small pieces tiny_faster_rcnn and tiny_mask_rcnn share: an 8-channel backbone, anchors, box pooling and head."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
    backbone.out_channels = 8
    return backbone, dict(num_classes=None, min_size=64, max_size=64,
                          rpn_anchor_generator=AnchorGenerator(sizes=((8, 16),), aspect_ratios=((0.5, 1.0, 2.0),)),
                          box_roi_pool=MultiScaleRoIAlign(featmap_names=["0"], output_size=3, sampling_ratio=2),
                          box_head=TwoMLPHead(8 * 3 * 3, 16), box_predictor=FastRCNNPredictor(16, 3),
                          rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20, box_score_thresh=0.0)


def tiny_faster_rcnn():
    """torchvision's FasterRCNN (RPN, MultiScaleRoIAlign: RoiAlign, box head, NMS) on an 8-channel backbone, 64 px."""
    from torchvision.models.detection import FasterRCNN
    backbone, kw = tiny_rcnn_parts()
    return Detection(FasterRCNN(backbone, box_detections_per_img=10, **kw))


def tiny_mask_rcnn():
    """torchvision's MaskRCNN as tiny_faster_rcnn, plus its mask head: the masks are pasted in a Loop."""
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign
    backbone, kw = tiny_rcnn_parts()
    return Detection(MaskRCNN(backbone, box_detections_per_img=5, mask_head=MaskRCNNHeads(8, [8], 1), mask_predictor=MaskRCNNPredictor(8, 8, 3),
                              mask_roi_pool=MultiScaleRoIAlign(featmap_names=["0"], output_size=6, sampling_ratio=2), **kw), masks=True)


# ---- the list --------------------------------------------------------------------------------------
# name: (constructor, inputs, dynamic axes or None, tiny constructor and inputs or None)

def tv(fn, **kw):
    return lambda: fn(weights=None, **kw)


def seg(fn, **kw):
    return lambda: fn(weights=None, weights_backbone=None, **kw)


def tokens(seq, vocab):
    return [{"name": "tokens", "type": INT64, "dims": [1, seq], "high": vocab}]


DYN_BATCH = {"input": {0: "batch"}, "output": {0: "batch"}}

MODELS = {
    "resnet18": (tv(tvm.resnet18), img(), DYN_BATCH),
    "resnet50": (tv(tvm.resnet50), img(), None),
    "resnext50_32x4d": (tv(tvm.resnext50_32x4d), img(), None),
    "wide_resnet50_2": (tv(tvm.wide_resnet50_2), img(), None),
    "densenet121": (tv(tvm.densenet121), img(), None),
    "googlenet": (tv(tvm.googlenet, aux_logits=False, init_weights=True), img(), None),
    "inception_v3": (tv(tvm.inception_v3, aux_logits=False, init_weights=True), img(299), None),
    "mobilenet_v2": (tv(tvm.mobilenet_v2), img(), DYN_BATCH),
    "mobilenet_v3_small": (tv(tvm.mobilenet_v3_small), img(), None),
    "mobilenet_v3_large": (tv(tvm.mobilenet_v3_large), img(), None),
    "mnasnet0_5": (tv(tvm.mnasnet0_5), img(), None),
    "shufflenet_v2_x1_0": (tv(tvm.shufflenet_v2_x1_0), img(), None),
    "squeezenet1_0": (tv(tvm.squeezenet1_0), img(), None),
    "squeezenet1_1": (tv(tvm.squeezenet1_1), img(), None),
    "efficientnet_b0": (tv(tvm.efficientnet_b0), img(), None),
    "regnet_x_400mf": (tv(tvm.regnet_x_400mf), img(), None),
    "regnet_y_400mf": (tv(tvm.regnet_y_400mf), img(), None),
    "convnext_tiny": (tv(tvm.convnext_tiny), img(), None),
    "vit_b_16": (tv(tvm.vit_b_16), img(), None),
    "swin_t": (tv(tvm.swin_t), img(), None),
    "maxvit_t": (tv(tvm.maxvit_t), img(), None),
    "alexnet": (tv(tvm.alexnet), img(), None),
    "vgg11_bn": (tv(tvm.vgg11_bn), img(), None),
    "fcn_resnet50": (seg(tvm.segmentation.fcn_resnet50, aux_loss=False), img(224), None),
    "deeplabv3_mobilenet_v3_large": (seg(tvm.segmentation.deeplabv3_mobilenet_v3_large, aux_loss=False), img(224), None),
    "lraspp_mobilenet_v3_large": (seg(tvm.segmentation.lraspp_mobilenet_v3_large), img(224), None),
    "transformer_encoder": (lambda: TransformerEncoderNet(), tokens(16, 100), {"tokens": {0: "batch"}, "output": {0: "batch"}}),
    "multihead_attention": (lambda: MultiheadAttentionNet(), [{"name": "input", "type": FLOAT, "dims": [10, 1, 32]}], None),
    "audio_gru": (lambda: AudioNet(), [{"name": "input", "type": FLOAT, "dims": [1, 40, 64]}], None),
    "lstm_tagger": (lambda: LstmTagger(), tokens(12, 200), {"tokens": {0: "batch", 1: "seq"}, "output": {0: "batch", 1: "seq"}}),
    "unet": (lambda: UNet(), img(64), None),
    "pixel_shuffle": (lambda: PixelShuffleNet(), img(32), None),
    "group_norm": (lambda: GroupNormNet(), img(24), None),
    "adaptive_pool": (lambda: AdaptivePoolNet(), [{"name": "input", "type": FLOAT, "dims": [1, 3, 18, 30]}], None),
    "adaptive_pool_div": (lambda: AdaptivePoolDivNet(), [{"name": "input", "type": FLOAT, "dims": [1, 3, 18, 30]}], None),
    "interpolate": (lambda: InterpolateNet(), [{"name": "input", "type": FLOAT, "dims": [1, 3, 13, 17]}], None),
    "padding_modes": (lambda: PaddingNet(), img(20), None),
    "tensor_ops": (lambda: TensorOpsNet(), [{"name": "input", "type": FLOAT, "dims": [1, 6, 10]}], None),
    # dynamic image size: sizes of Resize and friends computed from Shape at run time
    "lraspp_dynamic_hw": (seg(tvm.segmentation.lraspp_mobilenet_v3_large), img(224),
                          {"input": {2: "height", 3: "width"}, "output": {2: "height", 3: "width"}}),
    "unet_dynamic_hw": (lambda: UNet(), img(64), {"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}}),
    "r3d_18": (tv(tvm.video.r3d_18), [{"name": "input", "type": FLOAT, "dims": [1, 3, 8, 112, 112]}], None),
    "unet3d": (lambda: UNet3d(), [{"name": "input", "type": FLOAT, "dims": [1, 1, 16, 32, 32]}], None),
    "raft_small": (lambda: Flow(tvm.optical_flow.raft_small(weights=None)),
                   [{"name": "frame1", "type": FLOAT, "dims": [1, 3, 128, 128]}, {"name": "frame2", "type": FLOAT, "dims": [1, 3, 128, 128]}], None),
    "swin_v2_t": (tv(tvm.swin_v2_t), img(), None),
    "efficientnet_v2_s": (tv(tvm.efficientnet_v2_s), img(), None),
    "quantized_resnet18": (quantized_resnet18, img(), None),
    "mc3_18": (tv(tvm.video.mc3_18), [{"name": "input", "type": FLOAT, "dims": [1, 3, 8, 112, 112]}], None),
    "r2plus1d_18": (tv(tvm.video.r2plus1d_18), [{"name": "input", "type": FLOAT, "dims": [1, 3, 8, 112, 112]}], None),
    "s3d": (tv(tvm.video.s3d), [{"name": "input", "type": FLOAT, "dims": [1, 3, 16, 224, 224]}], None),
    "ssdlite320_mobilenet_v3_large": (lambda: Detection(tvm.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)),
                                      img(320), None),
}

# Small versions for tests/torch-models/: same code paths, few channels, tiny inputs.
TINY = {
    "transformer_encoder": (lambda: TransformerEncoderNet(vocab=20, d=16, heads=2, ff=32, layers=1, seq=6, classes=3), tokens(6, 20),
                            {"tokens": {0: "batch"}, "output": {0: "batch"}}),
    "multihead_attention": (lambda: MultiheadAttentionNet(d=8, heads=2), [{"name": "input", "type": FLOAT, "dims": [5, 1, 8]}], None),
    "audio_gru": (lambda: AudioNet(mels=6, ch=8, hidden=6, classes=3), [{"name": "input", "type": FLOAT, "dims": [1, 6, 12]}], None),
    "lstm_tagger": (lambda: LstmTagger(vocab=20, d=6, hidden=5, tags=3), tokens(7, 20),
                    {"tokens": {0: "batch", 1: "seq"}, "output": {0: "batch", 1: "seq"}}),
    "unet": (lambda: UNet(base=4), img(16), None),
    "pixel_shuffle": (lambda: PixelShuffleNet(ch=8), img(8), None),
    "group_norm": (lambda: GroupNormNet(ch=8, groups=4), img(8), None),
    "adaptive_pool_div": (lambda: AdaptivePoolDivNet(ch=3), [{"name": "input", "type": FLOAT, "dims": [1, 3, 18, 30]}], None),
    "interpolate": (lambda: InterpolateNet(ch=2), [{"name": "input", "type": FLOAT, "dims": [1, 3, 13, 17]}], None),
    "vit_tiny": (lambda: tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=5),
                 img(32), None),
    "swin_tiny": (lambda: tvm.SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=[2, 2], num_classes=5),
                  img(32), None),
    "convnext_tiny_c": (lambda: tvm.ConvNeXt([tvm.convnext.CNBlockConfig(8, 16, 1), tvm.convnext.CNBlockConfig(16, None, 1)], num_classes=5),
                        img(32), None),
    "unet3d": (lambda: UNet3d(base=2), [{"name": "input", "type": FLOAT, "dims": [1, 1, 4, 8, 8]}], None),
    "video_conv3d": (lambda: VideoNet(), [{"name": "input", "type": FLOAT, "dims": [1, 3, 4, 24, 24]}], {"input": {0: "batch"}, "output": {0: "batch"}}),
    "tiny_detector": (lambda: TinyDetector(), img(32), None),
    "tiny_faster_rcnn": (tiny_faster_rcnn, img(64), None),
    "tiny_mask_rcnn": (tiny_mask_rcnn, img(64), None),
}


def perturb(model):
    """
    Replaces every parameter and buffer whose elements are all equal (torchvision's constant inits: BN
    gamma 1 / beta 0 / running stats 0 and 1, zero biases, ViT's zero head and class token, ConvNeXt's
    1e-6 layer scale) with seeded random values, so that no layer is an identity or a constant and
    the comparison sees every path: variances and scales uniform in [0.5, 1.5], the rest N(0, 0.1^2).
    """
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point() or t.numel() < 2 or not bool((t == t.flatten()[0]).all()):
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_var" or (leaf == "weight" and float(t.flatten()[0]) == 1.0):
                t.copy_(torch.rand_like(t) + 0.5)
            else:
                t.copy_(torch.randn_like(t) * 0.1)
    return model


def example(inputs):
    args = []
    for spec in inputs:
        if spec["type"] == INT64:
            args.append(torch.randint(0, spec["high"], spec["dims"]))
        else:
            args.append(torch.randn(*spec["dims"]))
    return tuple(args)


def export(name, make, inputs, dynamic, opset, out):
    path = os.path.join(out, f"{name}.op{opset}.onnx")
    entry = {"model": name, "opset": opset, "file": os.path.basename(path), "inputs": inputs, "dynamic": dynamic}
    if os.path.exists(path):
        entry["size"] = os.path.getsize(path)
        return entry
    torch.manual_seed(1)
    model = perturb(make().eval())
    args = example(inputs)
    try:
        with torch.no_grad():
            outs = model(*args)
        n_out = len(outs) if isinstance(outs, (tuple, list)) else (len(outs) if isinstance(outs, dict) else 1)
        names = ["output"] if n_out == 1 else [f"output{i}" for i in range(n_out)]
        dyn = None
        if dynamic:
            dyn = {k: v for k, v in dynamic.items() if k != "output"}
            if "output" in dynamic:
                for n in names:
                    dyn[n] = dynamic["output"]
        torch.onnx.export(model, args, path + ".tmp", opset_version=opset, input_names=[i["name"] for i in inputs], output_names=names,
                          dynamic_axes=dyn, do_constant_folding=True)
        os.replace(path + ".tmp", path)
        entry["size"] = os.path.getsize(path)
    except Exception as e:  # noqa: BLE001 - an export failure is a result of the sweep
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        msg = str(e).strip().splitlines()
        entry["exportError"] = f"{type(e).__name__}: {msg[0] if msg else ''}"[:300]
    return entry


def main():
    argv = sys.argv[1:]
    tiny = "--tiny" in argv
    opsets = [17, 13, 11]
    if "--opsets" in argv:
        opsets = [int(v) for v in argv[argv.index("--opsets") + 1].split(",")]
        del argv[argv.index("--opsets"): argv.index("--opsets") + 2]
    argv = [a for a in argv if a != "--tiny"]
    out, names = argv[0], argv[1:]
    table = TINY if tiny else MODELS
    names = names or list(table)
    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else []
    for opset in opsets:
        for name in names:
            make, inputs, dynamic = table[name]
            entry = export(name, make, inputs, dynamic, opset, out)
            manifest = [m for m in manifest if not (m["model"] == name and m["opset"] == opset)] + [entry]
            manifest.sort(key=lambda m: (m["model"], m["opset"]))
            with open(manifest_path + ".tmp", "w") as f:
                json.dump(manifest, f, indent=1)
            os.replace(manifest_path + ".tmp", manifest_path)
            print(name, opset, entry.get("size", entry.get("exportError")), flush=True)


main()
