# SPDX-License-Identifier: MIT
include(CMakeFindDependencyMacro)
find_dependency(corio 0.1)
include(${CMAKE_CURRENT_LIST_DIR}/greeterTargets.cmake)
