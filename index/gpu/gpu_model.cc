#include "index/gpu/gpu_model.h"

#include <fmt/format.h>

#include "base/byte_io.h"
#include "index/codecs/fp8_codec.h"
#include "index/gpu/gpu_math.h"
#include "index/codecs/product_quantizer.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "base/status_macros.h"

namespace qvdb::gpu {
namespace {

// RBQ keeps its per-level scales private; its serialized state is the
// stable way to read them (recurrent_binary_quantizer.cc SaveState: levels,
// dim, mean, rotation, scales).
absl::StatusOr<std::vector<float>> RbqScales(const Codec& codec) {
  ByteWriter w;
  codec.SaveState(&w);
  const std::string bytes = w.Release();
  ByteReader r(bytes);
  uint32_t levels = 0, dim = 0;
  std::vector<float> mean, rotation, scales;
  RETURN_IF_ERROR(r.Get(&levels));
  RETURN_IF_ERROR(r.Get(&dim));
  RETURN_IF_ERROR(r.GetArray(&mean));
  RETURN_IF_ERROR(r.GetArray(&rotation));
  RETURN_IF_ERROR(r.GetArray(&scales));
  if (scales.size() != levels) {
    return absl::InternalError("RBQ state has an unexpected layout");
  }
  return scales;
}

}  // namespace

absl::Status GpuSupportsSpec(const IndexSpec& spec, Metric metric) {
  const CodecKind k = spec.codec.kind;
  if (k == CodecKind::kPQ || k == CodecKind::kFP8E4M3 ||
      k == CodecKind::kFP8E5M2 ||
      (k == CodecKind::kRBQ && CodecMetric(metric) == Metric::kL2 &&
       spec.codec.levels <= 8)) {
    return absl::OkStatus();
  }
  return absl::UnimplementedError(fmt::format(
      "the GPU does not search {} ({} metric): the CPU serves it",
      spec.ToString(), MetricName(metric)));
}

absl::StatusOr<GpuModel> BuildGpuModel(const IvfIndex& index) {
  RETURN_IF_ERROR(GpuSupportsSpec(index.spec(), index.metric()));
  if (!index.is_trained()) {
    return absl::FailedPreconditionError(fmt::format(
        "index {} is not trained: train it before moving it to the GPU",
        index.spec().ToString()));
  }
  const IvfIndex::ModelView v = index.model_view();
  const CodecKind kind = v.spec->codec.kind;
  GpuModel m;
  m.inner_product = CodecMetric(v.metric) == Metric::kInnerProduct;
  m.work_dim = v.work_dim;
  m.has_ivf = v.spec->ivf_nlist > 0;
  m.nlist = m.has_ivf ? v.spec->ivf_nlist : 1;
  m.by_residual = v.by_residual;
  m.code_size = v.codec->code_size();
  m.rerank = v.refine != nullptr;
  m.ram_refine = v.ram_refine != nullptr;
  if (m.has_ivf) {
    m.centroids = *v.centroids;
    m.centroid_norms.resize(m.nlist);
    for (int l = 0; l < m.nlist; ++l) {
      float s = 0;
      for (int j = 0; j < m.work_dim; ++j) {
        const float c = m.centroids[size_t(l) * m.work_dim + j];
        s += c * c;
      }
      m.centroid_norms[l] = s;
    }
  }
  if (kind == CodecKind::kPQ) {
    const auto& pq = static_cast<const PqCodec&>(*v.codec);
    m.kind = ScanKind::kPq;
    m.pq_m = pq.m();
    m.pq_nbits = pq.nbits();
    m.pq_ksub = pq.ksub();
    m.pq_dsub = pq.dsub();
    m.codebook = pq.centroids();
  } else if (kind == CodecKind::kFP8E4M3 || kind == CodecKind::kFP8E5M2) {
    const auto& fp8 = static_cast<const Fp8Codec&>(*v.codec);
    m.kind = ScanKind::kFp8;
    m.fp8_table.assign(fp8.table().begin(), fp8.table().end());
    m.fp8_mean = fp8.mean();
  } else if (kind == CodecKind::kRBQ && !m.inner_product) {
    m.kind = ScanKind::kRbq;
    m.rbq_levels = v.spec->codec.levels;
    ASSIGN_OR_RETURN(m.rbq_scales, RbqScales(*v.codec));
    m.rerank = true;
  } else {
    return absl::UnimplementedError(fmt::format(
        "the GPU does not search {} ({} metric): the CPU serves it",
        v.spec->ToString(), MetricName(v.metric)));
  }
  return m;
}

GpuLists ReadAllLists(const IvfIndex& index, int nlist) {
  GpuLists out;
  out.ids.resize(nlist);
  out.codes.resize(nlist);
  for (int l = 0; l < nlist; ++l) {
    index.ReadList(l, 0, &out.ids[l], &out.codes[l]);
  }
  return out;
}

absl::StatusOr<PreparedQueries> PrepareQueries(const GpuModel& model,
                                               const IvfIndex& index,
                                               const float* queries,
                                               size_t nq) {
  PreparedQueries p;
  p.nq = nq;
  index.PrepareQueries(queries, nq, &p.raw, &p.work, &p.pca_constant);
  const int d = model.work_dim;
  p.constant.assign(nq, 0.0f);
  if (!model.rerank) p.constant = p.pca_constant;
  if (model.kind == ScanKind::kFp8) {
    p.scan.resize(nq * d);
    for (size_t q = 0; q < nq; ++q) {
      const float* wq = &p.work[q * d];
      double offset = 0;
      for (int j = 0; j < d; ++j) {
        p.scan[q * d + j] =
            Fp8QueryValue(wq, model.fp8_mean.data(), j, model.inner_product);
        offset += double(wq[j]) * model.fp8_mean[j];
      }
      // Fp8 inner product: -(<q, mu> + sum); the first term is constant.
      if (model.inner_product) p.constant[q] -= float(offset);
    }
  } else {
    p.scan = p.work;
  }
  if (model.kind == ScanKind::kRbq) {
    const Codec& codec = *index.model_view().codec;
    const int levels = model.rbq_levels;
    p.rbq_codes.resize(nq * model.code_size);
    RETURN_IF_ERROR(codec.Encode(p.work.data(), nq, p.rbq_codes.data()));
    p.rbq_qscales.resize(nq * levels);
    p.rbq_norms.resize(nq);
    for (size_t q = 0; q < nq; ++q) {
      const uint8_t* code = &p.rbq_codes[q * model.code_size];
      float* c = &p.rbq_qscales[q * levels];
      RbqCodeScales(code, model.rbq_scales.data(), levels, d, c);
      p.rbq_norms[q] = RbqNormSquared(code, c, levels, d);
    }
  }
  return p;
}

}  // namespace qvdb::gpu

namespace qvdb::gpu {

absl::StatusOr<int> GpuKeep(const GpuModel& model,
                            const SearchParams& params) {
  const int factor = model.ram_refine ? std::max(params.ram_refine_factor,
                                                   params.refine_factor)
                                     : params.refine_factor;
  const int keep = model.rerank ? params.k * factor : params.k;
  if (keep > kMaxKeep) {
    return absl::UnimplementedError(fmt::format(
        "the GPU keeps at most {} candidates per query, this search asks {} "
        "(k x refine_factor): the CPU serves it",
        kMaxKeep, keep));
  }
  return keep;
}

SearchResults FinishSearch(const GpuModel& model, const IvfIndex& index,
                           const PreparedQueries& queries, const int64_t* ids,
                           const float* distances, int keep,
                           const SearchParams& params) {
  const int k = params.k;
  const size_t nq = queries.nq;
  SearchResults r = SearchResults::Empty(nq, k);
  const int dim = index.dim();
  for (size_t q = 0; q < nq; ++q) {
    const int64_t* cid = ids + q * keep;
    const float* cd = distances + q * keep;
    if (model.rerank) {
      int n = 0;
      while (n < keep && cid[n] >= 0) ++n;
      index.ReRank(&queries.raw[q * dim], &queries.work[q * model.work_dim],
                   queries.pca_constant[q], cid, n, k, params.refine_factor,
                   &r.ids[q * k],
                   &r.distances[q * k]);
    } else {
      for (int i = 0; i < k && i < keep; ++i) {
        r.ids[q * k + i] = cid[i];
        r.distances[q * k + i] = cid[i] >= 0 ? cd[i] : PositiveInfinity();
      }
    }
  }
  return r;
}

}  // namespace qvdb::gpu
