// Guards the filter parser (index/filter/filter_expr.h): a filter text from
// a request gives an expression or InvalidArgument against the schema,
// never a crash or a stack overflow (kMaxFilterDepth); the schema's text
// form parser likewise.
#include "index/filter/filter_expr.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const qvdb::FieldSchema& Schema() {
  static const qvdb::FieldSchema* schema = [] {
    auto s = qvdb::FieldSchema::Parse(
        "lang:keyword,year:int64,score:double,public:bool,at:timestamp,"
        "tags:keyword_list,notes:keyword:unindexed");
    QVDB_FUZZ_CHECK(s.ok());
    return new qvdb::FieldSchema(*std::move(s));
  }();
  return *schema;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = qvdb::fuzz::AsText(data, size);
  (void)qvdb::ParseFilter(text, Schema());
  if (auto schema = qvdb::FieldSchema::Parse(text); schema.ok()) {
    auto again = qvdb::FieldSchema::Parse(schema->ToText());
    QVDB_FUZZ_CHECK(again.ok() && again->ToText() == schema->ToText());
  }
  return 0;
}
