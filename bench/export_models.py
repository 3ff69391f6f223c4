# Writes the whole-network benchmark's models as .onnx with random weights (seeded), exported by
# PyTorch from torchvision's definitions: the architectures real exported files have.
#   /usr/bin/python3 bench/export_models.py OUT_DIR [name ...]
# Needs Debian's python3-torch and python3-torchvision (bench/networks.mjs installs them as root).
import sys, os
import torch, torchvision

MODELS = {
    # name: (constructor, input shape)
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), (1, 3, 224, 224)),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(weights=None), (1, 3, 224, 224)),
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), (1, 3, 224, 224)),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(weights=None), (1, 3, 224, 224)),
    "vgg16": (lambda: torchvision.models.vgg16(weights=None), (1, 3, 224, 224)),
    # encoder-decoder segmentation with bilinear upsampling (MobileNetV3 backbone, LR-ASPP head)
    "lraspp_mobilenet_v3": (lambda: torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None), (1, 3, 512, 512)),
    # detectors (opset 11, one image [1, 3, 320, 320]): NonMaxSuppression, NonZero and TopK on the
    # run's data (staged plans); Faster R-CNN adds RoiAlign. Few classes for Faster R-CNN and a zero
    # score threshold, so that random weights still keep boxes.
    "ssdlite320_detection": (lambda: Detection(torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)),
                             (1, 3, 320, 320)),
    "fasterrcnn_mobilenet_320_detection": (lambda: Detection(torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=5, box_score_thresh=0.0)), (1, 3, 320, 320)),
}


class Detection(torch.nn.Module):
    """A torchvision detector on one image [1, 3, H, W] (pixels in [0, 1)): its boxes, scores and labels."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        d = self.m([x[0]])[0]
        return d["boxes"], d["scores"], d["labels"]

def main():
    out = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    for name in names:
        make, shape = MODELS[name]
        path = os.path.join(out, f"{name}.onnx")
        if os.path.exists(path):
            continue
        model = make().eval()
        detector = isinstance(model, Detection)
        x = torch.rand(*shape) if detector else torch.randn(*shape)
        torch.onnx.export(model, x, path + ".tmp", opset_version=11 if detector else 13, input_names=["input"],
                          output_names=["boxes", "scores", "labels"] if detector else ["output"], do_constant_folding=True)
        os.replace(path + ".tmp", path)
        print(name, os.path.getsize(path))

main()
