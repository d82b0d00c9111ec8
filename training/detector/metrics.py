"""AP50 of detections against boxes (the synthetic val set during training), VOC all-point style."""
import numpy as np
import torch
import torchvision


def nms_rows(rows, conf=0.05, iou=0.5, max_det=400):
    """rows [N, 6] from ShelfDetector.forward -> (boxes x1y1x2y2 [K, 4], scores [K])."""
    score = rows[:, 4] * rows[:, 5]
    keep = score >= conf
    r, score = rows[keep], score[keep]
    boxes = torch.cat([r[:, :2] - r[:, 2:4] / 2, r[:, :2] + r[:, 2:4] / 2], 1)
    k = torchvision.ops.nms(boxes, score, iou)[:max_det]
    return boxes[k], score[k]


def ap50(dets, gts, thr=0.5):
    """dets: list of (boxes [K, 4], scores [K]); gts: list of [M, 4]. Returns (AP, best F1)."""
    scores, hits, total = [], [], 0
    for (boxes, sc), gt in zip(dets, gts):
        gt = torch.as_tensor(gt, dtype=torch.float32).reshape(-1, 4)
        total += len(gt)
        order = torch.argsort(sc, descending=True)
        boxes, sc = boxes[order], sc[order]
        used = torch.zeros(len(gt), dtype=torch.bool)
        ious = torchvision.ops.box_iou(boxes, gt) if len(gt) and len(boxes) else torch.zeros(len(boxes), len(gt))
        for i in range(len(boxes)):
            hit = False
            if len(gt):
                row = ious[i].clone()
                row[used] = -1
                j = int(row.argmax())
                if row[j] >= thr:
                    used[j] = True
                    hit = True
            scores.append(float(sc[i]))
            hits.append(hit)
    if not total:
        return 0.0, 0.0
    order = np.argsort(-np.array(scores))
    tp = np.cumsum(np.array(hits, dtype=np.float64)[order])
    fp = np.cumsum(1 - np.array(hits, dtype=np.float64)[order])
    recall = tp / total
    precision = tp / np.maximum(tp + fp, 1e-9)
    f1 = (2 * precision * recall / np.maximum(precision + recall, 1e-9)).max() if len(tp) else 0.0
    # All-point interpolation: area under the precision envelope.
    mrec = np.concatenate([[0], recall, [1]])
    mpre = np.concatenate([[1], precision, [0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(((mrec[i + 1] - mrec[i]) * mpre[i + 1]).sum()), float(f1)
