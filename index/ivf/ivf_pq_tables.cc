#include "index/ivf/ivf_pq_tables.h"

#include "index/kernels/ivf_lut_kernels.h"

namespace qvdb {

void PqIvfTables::Build(const PqCodec& pq, const float* centroids,
                        int nlist) {
  Clear();
  if (!pq.is_trained()) return;
  m_ = pq.m();
  ksub_ = pq.ksub();
  dsub_ = pq.dsub();
  nlist_ = nlist;
  transposed_.resize(size_t(m_) * dsub_ * ksub_);
  for (int j = 0; j < m_; ++j) {
    for (int k = 0; k < ksub_; ++k) {
      const float* y = pq.centroid(j, k);
      for (int t = 0; t < dsub_; ++t) {
        transposed_[(size_t(j) * dsub_ + t) * ksub_ + k] = y[t];
      }
    }
  }
  list_terms_.resize(size_t(nlist) * m_ * ksub_);
  const int dim = m_ * dsub_;
  for (int l = 0; l < nlist; ++l) {
    const float* c = centroids + size_t(l) * dim;
    float* terms = &list_terms_[size_t(l) * m_ * ksub_];
    for (int j = 0; j < m_; ++j) {
      for (int k = 0; k < ksub_; ++k) {
        const float* y = pq.centroid(j, k);
        float yy = 0, cy = 0;
        for (int t = 0; t < dsub_; ++t) {
          yy += y[t] * y[t];
          cy += c[j * dsub_ + t] * y[t];
        }
        terms[j * ksub_ + k] = yy + 2 * cy;
      }
    }
  }
}

void PqIvfTables::Clear() {
  m_ = ksub_ = dsub_ = nlist_ = 0;
  std::vector<float>().swap(transposed_);
  std::vector<float>().swap(list_terms_);
}

void PqIvfTables::QueryTerms(const float* q, float* neg_qy) const {
  if (ksub_ == 16) {
    PqQueryTerms16(q, transposed_.data(), m_, dsub_, neg_qy);
    return;
  }
  for (int j = 0; j < m_; ++j) {
    const float* qs = q + size_t(j) * dsub_;
    const float* y = &transposed_[size_t(j) * dsub_ * ksub_];
    float* out = neg_qy + size_t(j) * ksub_;
    for (int k = 0; k < ksub_; ++k) out[k] = 0;
    for (int t = 0; t < dsub_; ++t) {
      const float v = qs[t];
      for (int k = 0; k < ksub_; ++k) out[k] += v * y[t * ksub_ + k];
    }
    for (int k = 0; k < ksub_; ++k) out[k] = -out[k];
  }
}

void PqIvfTables::ListLut(int list, const float* neg_qy, float* lut) const {
  const size_t n = lut_size();
  const float* terms = &list_terms_[size_t(list) * n];
  for (size_t i = 0; i < n; ++i) lut[i] = terms[i] + 2 * neg_qy[i];
}

void PqIvfTables::QuantizedListLut(int list, const float* neg_qy,
                                   QuantizedLut* out) const {
  QuantizePq4ListLut(&list_terms_[size_t(list) * lut_size()], neg_qy, m_, out);
}

}  // namespace qvdb
