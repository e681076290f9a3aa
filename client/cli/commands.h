// The qvdb CLI's command classes. Each keeps its parsed arguments in an
// `Args` struct, readable through args() so that tests check the parsing
// without a server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/cli/command.h"
#include "client/cli/commands_advise.h"

namespace qvdb::client {

// qvdb collection create NAME --dim D [--metric l2|ip|cosine] [--spec S]
class CollectionCreateCommand final : public Command {
 public:
  struct Args {
    std::string name;
    uint32_t dim = 0;
    std::string metric = "l2";
    std::string spec = "Flat";
    // NAME:TYPE[:unindexed], e.g. lang:keyword (docs/filter.md).
    std::vector<std::string> fields;
  };
  std::vector<std::string> path() const override {
    return {"collection", "create"};
  }
  std::string help() const override { return "Create a collection"; }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb collection add-field NAME --field NAME:TYPE[:unindexed]
class CollectionAddFieldCommand final : public Command {
 public:
  struct Args {
    std::string name;
    // NAME:TYPE[:unindexed], as create's --field.
    std::string field;
  };
  std::vector<std::string> path() const override {
    return {"collection", "add-field"};
  }
  std::string help() const override {
    return "Add a payload field to a collection, filled from its rows";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb collection list
class CollectionListCommand final : public Command {
 public:
  std::vector<std::string> path() const override {
    return {"collection", "list"};
  }
  std::string help() const override {
    return "List the collections with their counts";
  }
  void AddOptions(CLI::App& app) override {}
  int Run(CommandContext& ctx) override;
};

// qvdb collection describe NAME
class CollectionDescribeCommand final : public Command {
 public:
  struct Args {
    std::string name;
  };
  std::vector<std::string> path() const override {
    return {"collection", "describe"};
  }
  std::string help() const override {
    return "Show a collection's configuration, state and figures";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb collection drop NAME --yes
class CollectionDropCommand final : public Command {
 public:
  struct Args {
    std::string name;
    bool yes = false;
  };
  std::vector<std::string> path() const override {
    return {"collection", "drop"};
  }
  std::string help() const override {
    return "Delete a collection and all its rows (needs --yes)";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb ingest COLLECTION FILE [options]
class IngestCommand final : public Command {
 public:
  struct Args {
    std::string collection;
    std::string file;
    std::string format = "auto";
    std::string dataset = "train";
    uint64_t id_start = 0;
    size_t batch = 1000;
    int window = 4;
    uint64_t offset = 0;
    uint64_t limit = 0;  // 0: all
    bool resume = false;
    std::string progress = "auto";
    std::string id_field = "id";
    std::string vector_field = "vector";
    std::string payload_field = "payload";
  };
  std::vector<std::string> path() const override { return {"ingest"}; }
  std::string help() const override {
    return "Load vectors from .fvecs, .bvecs, .npy, .hdf5 or JSON lines";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb search COLLECTION (--vector V | --vector-file F [--row I]) [options]
class SearchCommand final : public Command {
 public:
  struct Args {
    std::string collection;
    std::string vector;
    std::string vector_file;
    std::string format = "auto";
    std::string dataset = "test";
    uint64_t row = 0;
    int count = 1;
    int k = 10;
    int nprobe = 0;         // 0: the server's default
    int refine_factor = 0;  // 0: the server's default
    int ram_refine_factor = 0;  // 0: the server's default
    std::string filter;                   // an expression (docs/filter.md)
    std::vector<std::string> filter_ids;  // only these ids
    std::string id_type = "auto";
    bool no_payload = false;
    bool with_vector = false;
  };
  std::vector<std::string> path() const override { return {"search"}; }
  std::string help() const override {
    return "Find the nearest neighbours of a vector";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb get COLLECTION (ID... | --filter F [--limit N])
class GetCommand final : public Command {
 public:
  struct Args {
    std::string collection;
    std::vector<std::string> ids;
    std::string id_type = "auto";
    bool with_vector = false;
    bool no_payload = false;
    std::string filter;  // an expression (docs/filter.md), instead of ids
    uint32_t limit = 0;  // with --filter; 0: the server's default (100)
  };
  std::vector<std::string> path() const override { return {"get"}; }
  std::string help() const override {
    return "Read rows by id, or the rows that pass a filter";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  int RunFiltered(CommandContext& ctx);
  Args args_;
};

// qvdb delete COLLECTION (ID... | --filter F)
class DeleteCommand final : public Command {
 public:
  struct Args {
    std::string collection;
    std::vector<std::string> ids;
    std::string id_type = "auto";
    std::string filter;  // an expression (docs/filter.md), instead of ids
  };
  std::vector<std::string> path() const override { return {"delete"}; }
  std::string help() const override {
    return "Delete rows by id, or every row that passes a filter";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb count COLLECTION [--filter F]
class CountCommand final : public Command {
 public:
  struct Args {
    std::string collection;
    std::string filter;  // empty: every row
  };
  std::vector<std::string> path() const override { return {"count"}; }
  std::string help() const override {
    return "Count the rows, or those that pass a filter";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb train COLLECTION
class TrainCommand final : public Command {
 public:
  std::vector<std::string> path() const override { return {"train"}; }
  std::string help() const override {
    return "Train a new model on the stored rows and switch to it";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const std::string& collection() const { return collection_; }

 private:
  std::string collection_;
};

// qvdb compact COLLECTION
class CompactCommand final : public Command {
 public:
  std::vector<std::string> path() const override { return {"compact"}; }
  std::string help() const override {
    return "Reclaim the memory of deleted and replaced vectors";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;

 private:
  std::string collection_;
};

// qvdb snapshot create [NAME]
class SnapshotCreateCommand final : public Command {
 public:
  std::vector<std::string> path() const override {
    return {"snapshot", "create"};
  }
  std::string help() const override {
    return "Snapshot the whole data directory (all collections)";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;

 private:
  std::string name_;
};

// qvdb snapshot list
class SnapshotListCommand final : public Command {
 public:
  std::vector<std::string> path() const override {
    return {"snapshot", "list"};
  }
  std::string help() const override { return "List the snapshots"; }
  void AddOptions(CLI::App& app) override {}
  int Run(CommandContext& ctx) override;
};

// qvdb snapshot restore NAME --yes
class SnapshotRestoreCommand final : public Command {
 public:
  struct Args {
    std::string name;
    bool yes = false;
  };
  std::vector<std::string> path() const override {
    return {"snapshot", "restore"};
  }
  std::string help() const override {
    return "Replace ALL the server's data by a snapshot's (needs --yes)";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

// qvdb snapshot delete NAME
class SnapshotDeleteCommand final : public Command {
 public:
  std::vector<std::string> path() const override {
    return {"snapshot", "delete"};
  }
  std::string help() const override { return "Delete a snapshot"; }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;

 private:
  std::string name_;
};

// qvdb stats [COLLECTION]
class StatsCommand final : public Command {
 public:
  std::vector<std::string> path() const override { return {"stats"}; }
  std::string help() const override {
    return "Server and collection figures: counts, memory, latency";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;

 private:
  std::string collection_;
};

}  // namespace qvdb::client
