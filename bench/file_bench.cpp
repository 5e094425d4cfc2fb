// SPDX-License-Identifier: MIT
// bench/file_bench.cpp: W7, a file in the page cache read in 64 KiB chunks
// with file::read_at at queue depth 1 and 32; floors: BM_baseline_liburing_read
// and BM_baseline_pread.
#if __has_include(<corio/file.hpp>)
#endif
