// SPDX-License-Identifier: MIT
// corio/corio.hpp: the umbrella header; includes every public corio header.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
