// Package all imports every component implementation for its registration
// side effect, so a binary that imports it can load any component type a
// component file names. It has no API; add each new implementation here.
//
// Only cmd/ binaries and tests should import it: libraries take the
// registry as they find it.
package all

import (
	_ "github.com/cove-env/cove/internal/components/bindings/cron"             // bindings.cron
	_ "github.com/cove-env/cove/internal/components/bindings/http"             // bindings.http
	_ "github.com/cove-env/cove/internal/components/bindings/localstorage"     // bindings.localstorage
	_ "github.com/cove-env/cove/internal/components/bindings/mqtt3"            // bindings.mqtt3
	_ "github.com/cove-env/cove/internal/components/bindings/mysql"            // bindings.mysql
	_ "github.com/cove-env/cove/internal/components/bindings/postgresql"       // bindings.postgresql, bindings.postgres
	_ "github.com/cove-env/cove/internal/components/bindings/rabbitmq"         // bindings.rabbitmq
	_ "github.com/cove-env/cove/internal/components/bindings/redis"            // bindings.redis
	_ "github.com/cove-env/cove/internal/components/bindings/smtp"             // bindings.smtp
	_ "github.com/cove-env/cove/internal/components/configuration/local/file"  // configuration.local.file
	_ "github.com/cove-env/cove/internal/components/configuration/postgresql"  // configuration.postgresql
	_ "github.com/cove-env/cove/internal/components/configuration/redis"       // configuration.redis
	_ "github.com/cove-env/cove/internal/components/lock/inmemory"             // lock.in-memory
	_ "github.com/cove-env/cove/internal/components/lock/redis"                // lock.redis
	_ "github.com/cove-env/cove/internal/components/nameresolution/postgresql" // nameresolution.postgresql
	_ "github.com/cove-env/cove/internal/components/nameresolution/redis"      // nameresolution.redis
	_ "github.com/cove-env/cove/internal/components/nameresolution/sqlite"     // nameresolution.sqlite
	_ "github.com/cove-env/cove/internal/components/pubsub/inmemory"           // pubsub.in-memory
	_ "github.com/cove-env/cove/internal/components/pubsub/jetstream"          // pubsub.jetstream, embedded without natsURL
	_ "github.com/cove-env/cove/internal/components/pubsub/mqtt3"              // pubsub.mqtt3
	_ "github.com/cove-env/cove/internal/components/pubsub/rabbitmq"           // pubsub.rabbitmq
	_ "github.com/cove-env/cove/internal/components/pubsub/redis"              // pubsub.redis
	_ "github.com/cove-env/cove/internal/components/secretstores/local/env"    // secretstores.local.env
	_ "github.com/cove-env/cove/internal/components/secretstores/local/file"   // secretstores.local.file
	_ "github.com/cove-env/cove/internal/components/state/inmemory"            // state.in-memory
	_ "github.com/cove-env/cove/internal/components/state/mysql"               // state.mysql
	_ "github.com/cove-env/cove/internal/components/state/postgresql"          // state.postgresql v1, v2
	_ "github.com/cove-env/cove/internal/components/state/redis"               // state.redis
	_ "github.com/cove-env/cove/internal/components/state/sqlite"              // state.sqlite
)
