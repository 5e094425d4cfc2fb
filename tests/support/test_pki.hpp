// SPDX-License-Identifier: MIT
// tests/support/test_pki.hpp: a throwaway CA and the certificates it issued, made once per
// test process with the openssl command, in a temporary directory removed at exit.
//
// Files: ca.pem; server.pem / server.key (for localhost and 127.0.0.1); expired.pem (the
// same, expired); client.pem / client.key.
// Usage: corio_test::test_pki::get().file("ca.pem")
#pragma once

#include <catch2/catch_test_macros.hpp>

#include "support/child_process.hpp"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace corio_test {

class test_pki {
 public:
  static const test_pki& get() {
    static const test_pki pki;
    return pki;
  }
  std::string file(const char* name) const { return (dir_ / name).string(); }

  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;
  ~test_pki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 private:
  test_pki() {
    std::string templ = (std::filesystem::temp_directory_path() / "corio-tls-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    dir_ = templ;
    const char* script = R"(cd "$1" || exit 1
(set -e
key="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $key -keyout ca.key -out ca.pem -days 2 -subj "/CN=corio test CA"
openssl req $key -keyout server.key -out server.csr -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days -1 \
  -extfile server.ext -out expired.pem
openssl req $key -keyout client.key -out client.csr -subj "/CN=corio test client"
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem
) 2>openssl.log || { cat openssl.log >&2; exit 1; }
)";
    child_process sh({"sh", "-c", script, "sh", dir_.string()});
    REQUIRE(sh.wait() == 0);
  }

  std::filesystem::path dir_;
};

}  // namespace corio_test
