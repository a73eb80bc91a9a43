// model/ is compiled twice: in float32 for the engine, and with
// -DMODEL_DOUBLE into the test runner, where finite-difference checks need
// double precision to be meaningful.  Code in model/ writes `real` for every
// value that carries model numbers, calls gemm() for matrix products and
// includes <tgmath.h> in its .c files (exp, sqrt, tanh, erf then pick the
// precision from their argument).  Write literals as floats (0.5f): they are
// exact in double too.
#ifndef MODEL_REAL_H
#define MODEL_REAL_H

#include <cblas.h>

#ifdef MODEL_DOUBLE
typedef double real;
#define REAL_IS_DOUBLE 1
// The double build's public symbols get a _f64 suffix so both builds link
// into one test runner.  Every function model/ exports is listed here.
#define attn_map_parse attn_map_parse_f64
#define attn_kind_name attn_kind_name_f64
#define attn_map_count attn_map_count_f64
#define attn_map_info attn_map_info_f64
#define attn_map_has_param attn_map_has_param_f64
#define attn_map_is_sparse attn_map_is_sparse_f64
#define attn_map_default attn_map_default_f64
#define attn_map_format attn_map_format_f64
#define attn_map_names attn_map_names_f64
#define attn_map_expected_zeros attn_map_expected_zeros_f64
#define attn_scratch_floats attn_scratch_floats_f64
#define attn_row_forward attn_row_forward_f64
#define attn_row_backward attn_row_backward_f64
#define rsoftmax_expected_zeros rsoftmax_expected_zeros_f64
#define output_map_count output_map_count_f64
#define output_map_info output_map_info_f64
#define output_map_name output_map_name_f64
#define output_map_parse output_map_parse_f64
#define output_map_names output_map_names_f64
#define output_map_r_for_labels output_map_r_for_labels_f64
#define output_map_scratch output_map_scratch_f64
#define output_map_probs output_map_probs_f64
#define output_map_loss output_map_loss_f64
#define output_map_predict output_map_predict_f64
#define bert_loss_multilabel bert_loss_multilabel_f64
#define bert_param_info bert_param_info_f64
#define bert_param_slice_numel bert_param_slice_numel_f64
#define bert_param_numel bert_param_numel_f64
#define bert_build bert_build_f64
#define bert_set_threads bert_set_threads_f64
#define bert_free bert_free_f64
#define bert_config bert_config_f64
#define bert_max_batch bert_max_batch_f64
#define bert_max_seq bert_max_seq_f64
#define bert_set_attn bert_set_attn_f64
#define bert_params bert_params_f64
#define bert_param bert_param_f64
#define bert_enable_grads bert_enable_grads_f64
#define bert_memory_bytes bert_memory_bytes_f64
#define bert_precision bert_precision_f64
#define bert_grads bert_grads_f64
#define bert_grad bert_grad_f64
#define bert_zero_grads bert_zero_grads_f64
#define bert_forward bert_forward_f64
#define bert_hidden bert_hidden_f64
#define bert_output_all_tokens bert_output_all_tokens_f64
#define bert_attention_probs bert_attention_probs_f64
#define bert_pooled bert_pooled_f64
#define bert_logits bert_logits_f64
#define bert_loss bert_loss_f64
#define bert_on_layer_grads bert_on_layer_grads_f64
#define bert_scale_loss_grad bert_scale_loss_grad_f64
#define bert_backward bert_backward_f64
#define bert_count_zeros bert_count_zeros_f64
#define bert_counts_zeros bert_counts_zeros_f64
#define bert_zero_counts bert_zero_counts_f64
#define bert_reset_zero_counts bert_reset_zero_counts_f64
#define embeddings_forward embeddings_forward_f64
#define embeddings_backward embeddings_backward_f64
#define linear_forward linear_forward_f64
#define linear_forward_strided linear_forward_strided_f64
#define linear_backward linear_backward_f64
#define layernorm_forward layernorm_forward_f64
#define layernorm_backward layernorm_backward_f64
#define gelu_forward gelu_forward_f64
#define gelu_backward gelu_backward_f64
#define dropout_forward dropout_forward_f64
#define dropout_forward_framed dropout_forward_framed_f64
#define dropout_backward dropout_backward_f64
#define residual_forward residual_forward_f64
#define attention_scratch_floats attention_scratch_floats_f64
#define attention_forward attention_forward_f64
#define attention_backward attention_backward_f64
#define bert_set_profile bert_set_profile_f64
#define bert_profile bert_profile_f64
#define profile_phase profile_phase_f64
#define profile_build profile_build_f64
#define profile_free profile_free_f64
#define profile_reset profile_reset_f64
#define profile_seconds profile_seconds_f64
#define profile_calls profile_calls_f64
#define profile_total_seconds profile_total_seconds_f64
#define profile_add profile_add_f64
#define profile_split profile_split_f64
#else
typedef float real;
#define REAL_IS_DOUBLE 0
#endif

// Row-major C[M,N] = alpha * op(A) op(B) + beta * C, in the build's precision.
static inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, real alpha,
                        const real *A, int lda, const real *B, int ldb, real beta, real *C,
                        int ldc) {
#ifdef MODEL_DOUBLE
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

#endif
