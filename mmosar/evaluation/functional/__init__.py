from .dota_submission import write_dota_task1  # noqa: F401
from .patch_merge import (  # noqa: F401
                          format_patch_name,
                          merge_boxes_by_nms,
                          merge_patch_results,
                          parse_patch_name,
                          translate_boxes,
)
from .reid import eval_reid  # noqa: F401
from .retrieval import (  # noqa: F401
                          RELEASED_LOC_LABELS,
                          cmc_curve,
                          eval_retrieval,
                          gt_ranks,
                          released_cmc_map,
                          released_loc_thresholds,
                          released_localization,
                          released_refined_similarity,
                          released_sq_l2_similarity,
)
from .rotated_confusion import rotated_confusion_matrix  # noqa: F401
from .rotated_det_ap import (  # noqa: F401
                          interp101_average_precision,
                          match_ranked_detections,
                          precision_recall,
                          voc_average_precision,
)
