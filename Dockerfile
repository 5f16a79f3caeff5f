# The pgpromote worker image (docker-compose.yml's `worker`).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY client ./client
COPY bin ./bin
CMD ["npm", "run", "worker"]
