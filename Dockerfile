# The pgpromote worker image (docker-compose.yml's `worker`).
FROM node:20-bookworm-slim
WORKDIR /app
# Local branches are copied with pg_dump | pg_restore, which must match prod's major version
# (Debian bookworm ships 15; for another major, install it from the PostgreSQL apt repository).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY client ./client
COPY bin ./bin
# The pgpromote command runs compiled (as `npm run setup` does it; esbuild comes with the dependencies).
COPY scripts/cli-build.mjs ./scripts/
RUN node -e "import('./scripts/cli-build.mjs').then(({ buildCli }) => buildCli())" && node bin/pgpromote.mjs --help > /dev/null
CMD ["npm", "run", "worker"]
