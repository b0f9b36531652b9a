#include "sidecar/reflection_service.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>

#include <memory>
#include <set>
#include <stdexcept>

namespace brokerside::sidecar {
namespace {

namespace gp = google::protobuf;

constexpr const char* info_method =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// The reflection messages, as libgrpc++_reflection registers them.
struct reflection_types {
  reflection_types() {
    // Linking libgrpc++_reflection registers its descriptors; this keeps the
    // library linked (it is never called: its service is a sync one).
    [[maybe_unused]] static volatile auto keep =
        &grpc::reflection::InitProtoReflectionServerBuilderPlugin;
    const auto* pool = gp::DescriptorPool::generated_pool();
    request = pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
    response = pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
    if (request == nullptr || response == nullptr) {
      throw std::runtime_error("server reflection: libgrpc++_reflection's descriptors are missing");
    }
  }

  const gp::Descriptor* request = nullptr;
  const gp::Descriptor* response = nullptr;
  mutable gp::DynamicMessageFactory factory;  // thread-safe
};

const reflection_types& types() {
  static const reflection_types t;
  return t;
}

std::string to_string(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& slice : slices)
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return out;
}

// Adds `file` and, after it, every file it imports (once each).
void add_file(const gp::FileDescriptor* file, gp::Message& files, std::set<std::string>& seen) {
  if (!seen.insert(file->name()).second) return;
  gp::FileDescriptorProto proto;
  file->CopyTo(&proto);
  files.GetReflection()->AddString(&files,
                                   files.GetDescriptor()->FindFieldByName("file_descriptor_proto"),
                                   proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) add_file(file->dependency(i), files, seen);
}

// A field of `message` by name (the reflection messages' own).
const gp::FieldDescriptor* field(const gp::Message& message, const char* name) {
  return message.GetDescriptor()->FindFieldByName(name);
}

// A call of a method no service has.
template <class Base>
class refused_generic final : public Base {
 public:
  explicit refused_generic(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// Serves one ServerReflectionInfo stream: one response per request, in order.
class reflection_service::info_reactor final
    : public stream_reactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit info_reactor(const reflection_service& service) : service_(service) { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    std::string response;
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    if (!service_.answer(to_string(in_), response)) {
      Finish({grpc::StatusCode::INVALID_ARGUMENT, "not a ServerReflectionRequest"});
      return;
    }
    grpc::Slice slice(response);
    out_ = grpc::ByteBuffer(&slice, 1);
    StartWrite(&out_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartRead(&in_);
  }

  void OnDone() override { delete this; }

 private:
  const reflection_service& service_;
  grpc::ByteBuffer in_;   // the read in progress
  grpc::ByteBuffer out_;  // the write in progress
};

reflection_service::reflection_service(std::vector<std::string> services)
    : services_(std::move(services)) {
  types();
}

stream_reactor<grpc::ByteBuffer, grpc::ByteBuffer>* reflection_service::open(
    grpc::GenericServerContext* context) {
  if (context->method() == info_method) return new info_reactor(*this);
  return new refused_generic<stream_reactor<grpc::ByteBuffer, grpc::ByteBuffer>>(
      {grpc::StatusCode::UNIMPLEMENTED, "unknown method " + context->method()});
}

bool reflection_service::answer(const std::string& bytes, std::string& out) const {
  const auto& t = types();
  std::unique_ptr<gp::Message> request(t.factory.GetPrototype(t.request)->New());
  if (!request->ParseFromString(bytes)) return false;
  std::unique_ptr<gp::Message> response(t.factory.GetPrototype(t.response)->New());
  const auto* in = request->GetReflection();
  const auto* set = response->GetReflection();
  set->SetString(response.get(), field(*response, "valid_host"),
                 in->GetString(*request, field(*request, "host")));
  set->MutableMessage(response.get(), field(*response, "original_request"))->CopyFrom(*request);

  const auto* pool = gp::DescriptorPool::generated_pool();
  const auto* which =
      in->GetOneofFieldDescriptor(*request, t.request->FindOneofByName("message_request"));
  const std::string kind = which ? which->name() : "";
  std::string not_found;
  if (kind == "list_services") {
    auto* list = set->MutableMessage(response.get(), field(*response, "list_services_response"));
    for (const auto& name : services_) {
      auto* service = list->GetReflection()->AddMessage(list, field(*list, "service"));
      service->GetReflection()->SetString(service, field(*service, "name"), name);
    }
  } else if (kind == "file_by_filename" || kind == "file_containing_symbol" ||
             kind == "file_containing_extension") {
    const gp::FileDescriptor* file = nullptr;
    if (kind == "file_by_filename") {
      file = pool->FindFileByName(in->GetString(*request, which));
    } else if (kind == "file_containing_symbol") {
      file = pool->FindFileContainingSymbol(in->GetString(*request, which));
    } else {
      const auto& ext = in->GetMessage(*request, which);
      const auto* r = ext.GetReflection();
      const auto* type =
          pool->FindMessageTypeByName(r->GetString(ext, field(ext, "containing_type")));
      const auto* found =
          type ? pool->FindExtensionByNumber(type, r->GetInt32(ext, field(ext, "extension_number")))
               : nullptr;
      file = found ? found->file() : nullptr;
    }
    if (file == nullptr) {
      not_found = kind + ": not found";
    } else {
      std::set<std::string> seen;
      add_file(file,
               *set->MutableMessage(response.get(), field(*response, "file_descriptor_response")),
               seen);
    }
  } else if (kind == "all_extension_numbers_of_type") {
    const auto name = in->GetString(*request, which);
    const auto* type = pool->FindMessageTypeByName(name);
    if (type == nullptr) {
      not_found = "type " + name + " not found";
    } else {
      auto* numbers =
          set->MutableMessage(response.get(), field(*response, "all_extension_numbers_response"));
      numbers->GetReflection()->SetString(numbers, field(*numbers, "base_type_name"), name);
      std::vector<const gp::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      for (const auto* e : extensions) {
        numbers->GetReflection()->AddInt32(numbers, field(*numbers, "extension_number"),
                                           e->number());
      }
    }
  } else {
    auto* error = set->MutableMessage(response.get(), field(*response, "error_response"));
    error->GetReflection()->SetInt32(error, field(*error, "error_code"),
                                     static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
    error->GetReflection()->SetString(error, field(*error, "error_message"),
                                      "unknown request kind");
  }
  if (!not_found.empty()) {
    auto* error = set->MutableMessage(response.get(), field(*response, "error_response"));
    error->GetReflection()->SetInt32(error, field(*error, "error_code"),
                                     static_cast<int>(grpc::StatusCode::NOT_FOUND));
    error->GetReflection()->SetString(error, field(*error, "error_message"), not_found);
  }
  return response->SerializeToString(&out);
}

}  // namespace brokerside::sidecar
